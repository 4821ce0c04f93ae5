"""A lossy network between two phones: seeded loss and jitter on signalling and media.

`LossyRelay` is the SIP relay (sip_relay.py) with an impairment on every SIP datagram it forwards
and a `ForwardingMedia` per call that passes media (RTP, SRTP, RTCP, ZRTP, STUN alike: it does not
look inside) between the phones through the same kind of impairment, separately in each
direction. Each path (direction x packet kind, RFC 7983 demultiplexing) has its own seeded random
stream, so e.g. the ZRTP loss pattern does not depend on how many RTP packets crossed before it.

`LossyUdpRelay` is the plain version for anything that is not SIP: one loopback port that forwards
what a client sends to a fixed target and the target's answers back to that client, both
impaired. Benchmarks use it between two media streams.
"""

from __future__ import annotations

import asyncio

from deskphone.media.demux import classify

from .impairment import ImpairedPath, Impairment
from .media_relay import MediaRelay
from .sip_relay import CallMedia, Side, SipRelay
from .udp import LOOPBACK, Addr, PortStats, UdpPort


class ForwardingMedia(MediaRelay):
    """Passes each datagram to the other side through that direction's impairment."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call_id: str,
                 impairment: Impairment) -> None:
        super().__init__(loop, call_id)
        self.impairment = impairment
        self.paths: dict[str, ImpairedPath] = {}

    def _received(self, side: Side, data: bytes) -> None:
        receiver = side.other
        remote = self.remote[receiver]
        if remote is None:
            self.counters[f"no address for {receiver.value}"] += 1
            return
        name = f"media {classify(data).value} from {side.value}"
        path = self.paths.get(name)
        if path is None:
            path = self.paths[name] = self.impairment.path(f"{self.call_id}:{name}")
        self.counters[name] += 1
        self.ports[receiver].send_through(path, data, remote)

    def path_stats(self) -> dict[str, dict[str, int]]:
        return {name: vars(path.stats).copy() for name, path in sorted(self.paths.items())}


class LossyRelay:
    """SIP relay + per-call media forwarding, all of it through `signalling`/`media` impairments
    (each defaults to the other)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Addr, *,
                 media: Impairment, signalling: Impairment | None = None, port: int = 0) -> None:
        self.loop = loop
        self.media_impairment = media
        self.media: dict[str, ForwardingMedia] = {}
        self.sip = SipRelay(loop, target, self._new_media,
                            impairment=signalling if signalling is not None else media, port=port)

    def _new_media(self, call_id: str) -> CallMedia:
        relay = ForwardingMedia(self.loop, call_id, self.media_impairment)
        self.media[call_id] = relay
        return relay

    def uri_for(self, user: str) -> str:
        return self.sip.uri_for(user)

    def snapshot(self) -> dict[str, object]:
        return {
            "sip": vars(self.sip.stats).copy(),
            "sip_paths": {name: vars(p.stats).copy() for name, p in self.sip._paths.items()},
            "calls": {call_id: {"counters": dict(m.counters), "paths": m.path_stats()}
                      for call_id, m in self.media.items()},
        }

    def close(self) -> None:
        self.sip.close()
        for media in self.media.values():
            media.close()


class LossyUdpRelay:
    """One loopback port: datagrams from a client go to `target`, the target's go back to the
    most recent client; each direction through its own impaired path."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Addr, impairment: Impairment,
                 port: int = 0) -> None:
        self.target = target
        self.client: Addr | None = None
        self.to_target = impairment.path("to target")
        self.to_client = impairment.path("to client")
        self._port = UdpPort(loop, self._datagram, LOOPBACK, port)
        self.address: Addr = self._port.address

    @property
    def port_stats(self) -> PortStats:
        return self._port.stats

    def _datagram(self, data: bytes, addr: Addr) -> None:
        if addr == self.target:
            if self.client is not None:
                self._port.send_through(self.to_client, data, self.client)
            return
        self.client = addr
        self._port.send_through(self.to_target, data, self.target)

    def close(self) -> None:
        self._port.close()
