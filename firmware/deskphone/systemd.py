"""Talk to systemd the sd_notify(3) way: READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

systemd passes a datagram socket in $NOTIFY_SOCKET (a path, or '@name' for the Linux abstract
namespace) to a Type=notify service; each message is newline-separated VAR=value assignments in
one datagram. The watchdog interval comes from $WATCHDOG_USEC (and applies to us only when
$WATCHDOG_PID is unset or is our pid); a service should ping at half of it (sd_watchdog_enabled(3)).
Outside systemd (no $NOTIFY_SOCKET) every call is a cheap no-op, so the app calls these always.
No dependency: the protocol is one sendto().

    notifier = SystemdNotifier.from_environment()
    notifier.ready("idle, registered")       # after devices and SIP are up
    interval = notifier.watchdog_ping_interval()   # seconds, or None
    ... every `interval` s from the event loop: notifier.watchdog()
    notifier.stopping()

Module-level shortcuts use one notifier built from the environment: `notify_ready(status)` also
arms the event-loop watchdog when called inside a running asyncio loop and $WATCHDOG_USEC is set:
the loop itself sends WATCHDOG=1 every WatchdogSec/2, so a blocked loop stops the pings and
systemd restarts the phone (Restart=on-failure).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SystemdNotifier", "NotifyStats", "watchdog_interval", "notify_socket_address",
           "notify_ready", "notify_status", "notify_stopping", "notify_watchdog",
           "start_loop_watchdog"]


def notify_socket_address(value: str) -> str | bytes:
    """The sendto() address for $NOTIFY_SOCKET: '@x' is the abstract socket '\\0x' (unix(7))."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if not value.startswith("/"):
        raise ValueError(f"NOTIFY_SOCKET={value!r}: expected an absolute path or '@' + name "
                         "(vsock addresses are not supported)")
    return value


def watchdog_interval(environ: Mapping[str, str] | None = None,
                      pid: int | None = None) -> float | None:
    """WatchdogSec= in seconds when the watchdog is armed for this process, else None."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    watchdog_pid = env.get("WATCHDOG_PID")
    if watchdog_pid and watchdog_pid.strip() != str(os.getpid() if pid is None else pid):
        return None  # meant for another process (sd_watchdog_enabled(3))
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


@dataclass
class NotifyStats:
    sent: int = 0
    failed: int = 0        # socket errors (systemd gone, queue full): counted, never raised


class SystemdNotifier:
    """Sends sd_notify messages; a no-op when `address` is None (not started by systemd)."""

    def __init__(self, address: str | bytes | None, watchdog_seconds: float | None = None) -> None:
        self.address = address
        self.watchdog_seconds = watchdog_seconds
        self.stats = NotifyStats()
        self._sock: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET")
        address = notify_socket_address(raw) if raw else None
        return cls(address, watchdog_interval(env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_ping_interval(self) -> float | None:
        """How often to call watchdog(): half of WatchdogSec=, or None when not armed."""
        return None if self.watchdog_seconds is None else self.watchdog_seconds / 2

    def notify(self, **assignments: str) -> bool:
        """Send one datagram of VAR=value lines; True when it was handed to the socket."""
        if self.address is None:
            return False
        lines = []
        for key, value in assignments.items():
            if not key.isupper() or "=" in key:
                raise ValueError(f"sd_notify variable {key!r}: expected an upper-case name")
            lines.append(f"{key}={value.replace(chr(10), ' ')}")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError:
            self.stats.failed += 1
            return False
        self.stats.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify(READY="1", **({"STATUS": status} if status else {}))

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG="1")

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def reloading(self) -> bool:
        return self.notify(RELOADING="1")

    def stopping(self) -> bool:
        return self.notify(STOPPING="1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def start_loop_watchdog(notifier: SystemdNotifier,
                        loop: asyncio.AbstractEventLoop) -> asyncio.TimerHandle | None:
    """Send WATCHDOG=1 from `loop` every WatchdogSec/2; None when the watchdog is not armed.

    The ping runs as a loop callback, so it proves the event loop still turns. Returns the
    first timer handle (cancel it, or just stop the loop, to end the pings).
    """
    interval = notifier.watchdog_ping_interval()
    if interval is None or not notifier.enabled:
        return None
    handle: list[asyncio.TimerHandle] = []

    def ping() -> None:
        notifier.watchdog()
        handle[0] = loop.call_later(interval, ping)

    notifier.watchdog()
    handle.append(loop.call_later(interval, ping))
    return handle[0]


_default: SystemdNotifier | None = None


def _notifier() -> SystemdNotifier:
    global _default
    if _default is None:
        _default = SystemdNotifier.from_environment()
    return _default


def notify_ready(status: str | None = None) -> bool:
    """READY=1 (and STATUS=); inside a running loop, also arms the event-loop watchdog."""
    notifier = _notifier()
    sent = notifier.ready(status)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return sent
    if getattr(notifier, "_loop_watchdog", None) is None:
        notifier._loop_watchdog = start_loop_watchdog(notifier, loop)  # type: ignore[attr-defined]
    return sent


def notify_status(text: str) -> bool:
    return _notifier().status(text)


def notify_watchdog() -> bool:
    return _notifier().watchdog()


def notify_stopping() -> bool:
    return _notifier().stopping()
