"""Hearing the kernel say that a network interface or its addresses changed (Linux rtnetlink).

Why netlink rather than a periodic look at the addresses: the kernel multicasts every link and
address change to the RTMGRP_LINK / RTMGRP_IPV4_IFADDR / RTMGRP_IPV6_IFADDR groups (rtnetlink(7)),
so the phone learns of a change within milliseconds and wakes *only* then; a poll would have to
choose between waking an idle phone every few seconds and noticing a new address late. The socket
is read from the event loop (`add_reader`); messages are not parsed — any of them means "look
again" — and a burst (an address deleted, another added, the link flapping) is folded into one
`on_change()` after SETTLE_SECONDS of quiet.

Where netlink is missing (not Linux, or a sandbox without it), `start()` returns False and the
phone keeps the addresses it started with: an address change then needs a restart, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

# <linux/rtnetlink.h>: the legacy group bitmask of sockaddr_nl.nl_groups
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
SETTLE_SECONDS = 0.3  # a DHCP renumbering deletes then adds: act once, on the result
RECEIVE_BYTES = 65536


class InterfaceWatch:
    """Calls `on_change()` once the interfaces have settled after the kernel reported a change."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None], *,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        self.loop = loop
        self.on_change = on_change
        self.settle_seconds = settle_seconds
        self._socket: socket.socket | None = None
        self._settle: asyncio.TimerHandle | None = None
        # What `state` shows: how often the kernel woke us and how often we looked again.
        self.notifications = 0
        self.changes = 0

    def start(self) -> bool:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        except (AttributeError, OSError) as exc:  # AF_NETLINK is Linux-only
            log.warning("network changes will not be followed: no rtnetlink (%s)", exc)
            return False
        try:
            sock.setblocking(False)
            sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
            self.loop.add_reader(sock.fileno(), self._readable)
        except OSError as exc:
            sock.close()
            log.warning("network changes will not be followed: rtnetlink bind failed (%s)", exc)
            return False
        self._socket = sock
        return True

    def close(self) -> None:
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None
        if self._socket is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None

    def _readable(self) -> None:
        assert self._socket is not None
        while True:  # drain: one wake-up for everything the kernel queued
            try:
                if not self._socket.recv(RECEIVE_BYTES):
                    break
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: we missed some; looking again covers them all
                log.info("rtnetlink: %s", exc)
                break
            self.notifications += 1
        if self._settle is not None:
            self._settle.cancel()
        self._settle = self.loop.call_later(self.settle_seconds, self._settled)

    def _settled(self) -> None:
        self._settle = None
        self.changes += 1
        try:
            self.on_change()
        except Exception:  # a failure to follow one change must not stop us hearing the next
            log.exception("following a network change failed")
