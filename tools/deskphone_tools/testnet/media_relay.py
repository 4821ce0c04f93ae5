"""The media half of a relayed call: one loopback UDP port facing each phone.

The SIP relay hands each SDP body to `sdp_from(sender, sdp)`: the sender's real media address is
remembered, and the SDP the other side gets names the relay's port facing that other side. So the
caller sends its media to `ports[CALLER]`, the callee to `ports[CALLEE]`, and the relay decides
what reaches the other side (`_received`, overridden by the lossy and MITM relays).

Symmetric RTP (RFC 4961): packets are only accepted from the address the side's SDP named, or,
before any SDP named one, from the first address that sends (latched); anything else is counted
in `foreign` and dropped, as a phone would.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter

from deskphone.sdp import SessionDescription

from .sip_relay import Side, redirect_audio
from .udp import LOOPBACK, Addr, UdpPort

log = logging.getLogger(__name__)


class MediaRelay:
    def __init__(self, loop: asyncio.AbstractEventLoop, call_id: str) -> None:
        self.loop = loop
        self.call_id = call_id
        self.counters: Counter[str] = Counter()
        self.remote: dict[Side, Addr | None] = {Side.CALLER: None, Side.CALLEE: None}
        self.ports: dict[Side, UdpPort] = {}
        try:
            for side in Side:
                self.ports[side] = UdpPort(loop, functools.partial(self._from, side), LOOPBACK, 0)
        except OSError:
            self.close()
            raise
        self.closed = False

    def sdp_from(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        rewritten, remote = redirect_audio(sdp, LOOPBACK, self.ports[sender.other].port)
        if remote is not None:
            self.remote[sender] = remote
        return self.filter_sdp(sender, rewritten)

    def filter_sdp(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        """Hook: further changes to what the other side of `sender` will see."""
        return sdp

    def _from(self, side: Side, data: bytes, addr: Addr) -> None:
        expected = self.remote[side]
        if expected is None:
            self.remote[side] = expected = addr  # nothing signalled yet: latch the first sender
        if addr != expected:
            self.counters[f"foreign from {side.value}"] += 1
            return
        self._received(side, data)

    def _received(self, side: Side, data: bytes) -> None:
        raise NotImplementedError

    def send_to(self, side: Side, data: bytes) -> bool:
        """Send to `side` from the port facing it (what its SDP answer told it to expect)."""
        remote = self.remote[side]
        if remote is None or self.closed:
            self.counters[f"no address for {side.value}"] += 1
            return False
        self.ports[side].send(data, remote)
        return True

    def close(self) -> None:
        self.closed = True
        for port in self.ports.values():
            port.close()
