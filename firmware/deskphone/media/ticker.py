"""The media path's 20 ms clock: a kernel periodic timer read by the event loop.

Why not `loop.call_at` in a chain. Every call_at builds a new timer handle; uvloop gives each one a
libuv timer that is closed after it fires, and closing a handle costs the loop one more (zero
timeout) iteration: two epoll_wait calls and a handle's set-up and tear-down per frame, 50 times a
second for the whole call. A Linux timerfd (timerfd_create(2)) armed once with a 20 ms interval on
CLOCK_MONOTONIC and registered once with `loop.add_reader` costs one wake-up and one 8-byte read
per frame, and its expirations sit on an exact grid (absolute, no drift from re-arming late).

The callback gets each tick's *scheduled* time on CLOCK_MONOTONIC (time.monotonic()), not when
the loop got round to it: that wake-up noise is not network jitter (jitterbuffer.py). When the
loop was late by more than a period the read reports several expirations: up to `catch_up`
seconds of missed ticks are run back to back (the audio timeline stays whole); after a longer
stall (a suspended laptop, a stopped process) only the latest tick runs.

Python 3.11 has no os.timerfd_create (3.13 does), so the two system calls go through ctypes. Where
timerfd is missing (not Linux, a seccomp filter) the ticker falls back to a call_at chain with the
same callback contract.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CLOCK_MONOTONIC = 1  # <linux/time.h>
TFD_TIMER_ABSTIME = 1  # <sys/timerfd.h>


class _Timespec(ctypes.Structure):
    # struct timespec of the C library's timerfd_settime symbol: time_t is `long` there on every
    # Linux ABI ctypes binds to (the 64-bit-time variant on 32-bit ARM is a separate symbol)
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _timespec(seconds: float) -> _Timespec:
    whole = int(seconds)
    return _Timespec(whole, int(round((seconds - whole) * 1e9)))


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    if not hasattr(libc, "timerfd_create") or not hasattr(libc, "timerfd_settime"):
        return None
    libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.timerfd_create.restype = ctypes.c_int
    libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int,
                                     ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
    libc.timerfd_settime.restype = ctypes.c_int
    return libc


_LIBC = _load_libc()


class PeriodicTicker:
    """Calls `on_tick(scheduled)` every `period` seconds on `loop` from `first` on; `scheduled`
    is on CLOCK_MONOTONIC. `stop()` ends it for good."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float,
                 on_tick: Callable[[float], None], *, catch_up: float = 0.2,
                 use_timerfd: bool = True) -> None:
        if period <= 0:
            raise ValueError(f"ticker period {period!r} s must be positive")
        self.period = period
        self._loop = loop
        self._on_tick = on_tick
        self._catch_up_ticks = max(1, int(catch_up / period))
        self._next = 0.0  # the scheduled time of the next tick
        self._fd: int | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._stopped = False
        self._use_timerfd = use_timerfd and _LIBC is not None
        self.kind = "timerfd" if self._use_timerfd else "call_at"
        self.ticks = 0
        # event-loop callbacks that ran this ticker (one per period, fewer when a late loop
        # catches up): the one-wake-up-per-frame property counts these, not time
        self.wakeups = 0
        self.skipped = 0  # ticks dropped after a stall longer than catch_up

    def start(self, first: float) -> None:
        """The first tick at `first` (time.monotonic() seconds)."""
        if self._stopped or self._fd is not None or self._handle is not None:
            return
        self._next = first
        if self._use_timerfd and self._start_timerfd(first):
            return
        self.kind = "call_at"
        self._arm_call_at()

    def stop(self) -> None:
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    # ---- timerfd -------------------------------------------------------------------------------
    def _start_timerfd(self, first: float) -> bool:
        assert _LIBC is not None
        fd = _LIBC.timerfd_create(CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.info("timerfd_create failed (%s): media ticks from loop timers",
                     os.strerror(ctypes.get_errno()))
            return False
        # an absolute first expiry already in the past fires at once, then keeps the grid
        spec = _Itimerspec(_timespec(self.period), _timespec(max(first, 1e-9)))
        if _LIBC.timerfd_settime(fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            log.info("timerfd_settime failed (%s): media ticks from loop timers",
                     os.strerror(ctypes.get_errno()))
            os.close(fd)
            return False
        self._fd = fd
        self._loop.add_reader(fd, self._on_expired)
        return True

    def _on_expired(self) -> None:
        if self._fd is None:
            return
        self.wakeups += 1
        try:
            # timerfd_create(2): a native-endian uint64, the expirations since the last read
            expirations = int.from_bytes(os.read(self._fd, 8), sys.byteorder)
        except BlockingIOError:  # a spurious wake-up: nothing expired
            return
        self._run(expirations)

    # ---- call_at fallback ----------------------------------------------------------------------
    def _arm_call_at(self) -> None:
        # the loop's clock may not be time.monotonic(): schedule by the difference from now
        delay = self._next - time.monotonic()
        self._handle = self._loop.call_at(self._loop.time() + delay, self._on_call_at)

    def _on_call_at(self) -> None:
        self._handle = None
        if self._stopped:
            return
        self.wakeups += 1
        late = time.monotonic() - self._next
        self._run(1 + max(0, int(late / self.period)))
        if not self._stopped:
            self._arm_call_at()

    # ---- both ----------------------------------------------------------------------------------
    def _run(self, expirations: int) -> None:
        if expirations <= 0:
            return
        if expirations > self._catch_up_ticks:  # a long stall: only the latest tick plays
            self.skipped += expirations - 1
            self._next += (expirations - 1) * self.period
            expirations = 1
        for _ in range(expirations):
            scheduled = self._next
            self._next = scheduled + self.period
            self.ticks += 1
            try:
                self._on_tick(scheduled)
            except Exception:  # one bad frame must never stop the call's audio
                log.exception("media tick failed")
            if self._stopped:
                return
