"""A UDP socket on the event loop for the test relays: read callback in, (impaired) sends out.

Relays must react to a datagram synchronously (an INVITE's SDP names a media port that has to
exist before the INVITE is forwarded), so this is a plain non-blocking socket watched with
`loop.add_reader` rather than an asyncio protocol created by a coroutine. Relays bind to loopback
only: nothing they do can reach beyond the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from .impairment import ImpairedPath

log = logging.getLogger(__name__)

Addr = tuple[str, int]
LOOPBACK = "127.0.0.1"
MAX_DATAGRAM = 65535


@dataclass
class PortStats:
    received: int = 0
    sent: int = 0
    send_errors: int = 0  # ICMP port unreachable, full socket buffer: counted, never raised


class UdpPort:
    """A bound UDP socket; `on_datagram(data, addr)` is called for each datagram received."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_datagram: Callable[[bytes, Addr], None], host: str = LOOPBACK,
                 port: int = 0) -> None:
        if host != LOOPBACK:
            raise ValueError(f"test relay host {host!r}: expected {LOOPBACK} (loopback only)")
        self.loop = loop
        self.on_datagram = on_datagram
        self.stats = PortStats()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.address: Addr = self._sock.getsockname()[:2]
        self._pending: set[asyncio.TimerHandle] = set()
        self._closed = False
        loop.add_reader(self._sock.fileno(), self._readable)

    @property
    def port(self) -> int:
        return self.address[1]

    def _readable(self) -> None:
        for _ in range(64):  # bounded: other ports get their turn
            try:
                data, addr = self._sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED reported for an earlier send
                if exc.errno != errno.ECONNREFUSED:
                    log.debug("udp %s: receive error %s", self.address, exc)
                self.stats.send_errors += 1
                continue
            self.stats.received += 1
            try:
                self.on_datagram(data, (addr[0], addr[1]))
            except Exception:  # one bad datagram must never stop the relay
                log.exception("udp %s: handling a datagram from %s failed", self.address, addr)

    def send(self, data: bytes, addr: Addr) -> None:
        if self._closed:
            return
        try:
            self._sock.sendto(data, addr)
            self.stats.sent += 1
        except OSError:
            self.stats.send_errors += 1

    def send_through(self, path: ImpairedPath, data: bytes, addr: Addr) -> None:
        """Send as the impaired network would: maybe not at all, maybe later."""
        delay = path.decide()
        if delay is None:
            return
        if delay <= 0:
            self.send(data, addr)
            return
        handle: asyncio.TimerHandle

        def later() -> None:
            self._pending.discard(handle)
            self.send(data, addr)

        handle = self.loop.call_later(delay, later)
        self._pending.add(handle)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self._sock.fileno())
        self._sock.close()
