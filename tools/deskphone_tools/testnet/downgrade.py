"""A downgrading network: it strips the post-quantum key agreement from every ZRTP Hello.

"Harvest now, decrypt later" wants the call keyed by something a future quantum computer breaks,
so an on-path attacker that records calls only needs to remove DPQ1 (deskphone's X25519 +
ML-KEM-768, deskphone.zrtp.pq_kem) from the Hellos: both phones would then settle on X25519. The
relay here does exactly that and nothing else: media is forwarded as is, except each Hello, whose
key-agreement list loses `strip` (the length field and CRC are rewritten so the packet parses; the
Hello's MAC cannot be, it is keyed by the sender's H2, not yet disclosed, RFC 6189 §9).

`zrtp_hash="keep"` leaves the SDP alone: a phone checks the Hello it receives against the peer's
`a=zrtp-hash` (§8.1.1) and drops it. `zrtp_hash="strip"` also removes those lines (signalling
not integrity-protected): the Hellos are then accepted at first, and the MAC check when the H2 or
H1 arrives (§9, in Commit or DHPart1) drops the rest of the handshake.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from deskphone.media.demux import PacketKind, classify
from deskphone.sdp import SessionDescription
from deskphone.zrtp import packets

from .media_relay import MediaRelay
from .sip_relay import CallMedia, Side, SipRelay
from .udp import Addr

DOWNGRADE_ZRTP_HASH = ("keep", "strip")


def strip_key_agreements(datagram: bytes, strip: tuple[str, ...]) -> bytes:
    """The same ZRTP packet with `strip` removed from a Hello's key agreements; anything else
    (and a Hello that does not list them) is returned unchanged."""
    try:
        packet = packets.decode_packet(datagram)
        if packets.message_type(packet.message) != packets.Hello.TYPE:
            return datagram
        hello = packets.Hello.parse(packet.message)
    except packets.MalformedPacket:
        return datagram
    kept = tuple(name for name in hello.key_agreements if name not in strip)
    if kept == hello.key_agreements:
        return datagram
    message = dataclasses.replace(hello, key_agreements=kept).encode()  # keeps the old MAC
    return packets.encode_packet(packet.sequence_number, packet.ssrc, message)


class DowngradeMedia(MediaRelay):
    def __init__(self, loop: asyncio.AbstractEventLoop, call_id: str, *, strip: tuple[str, ...],
                 zrtp_hash: str) -> None:
        super().__init__(loop, call_id)
        self.strip = strip
        self.zrtp_hash = zrtp_hash

    def filter_sdp(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        if self.zrtp_hash == "keep":
            return sdp
        media = tuple(dataclasses.replace(m, attributes=tuple(
            a for a in m.attributes if a.name.lower() != "zrtp-hash")) for m in sdp.media)
        attributes = tuple(a for a in sdp.attributes if a.name.lower() != "zrtp-hash")
        return dataclasses.replace(sdp, attributes=attributes, media=media)

    def _received(self, side: Side, data: bytes) -> None:
        if classify(data) is PacketKind.ZRTP:
            changed = strip_key_agreements(data, self.strip)
            if changed != data:
                self.counters[f"hellos stripped from {side.value}"] += 1
                data = changed
        self.counters[f"forwarded from {side.value}"] += 1
        self.send_to(side.other, data)


class DowngradeRelay:
    """SIP relay + per-call Hello stripping; phones reach `target` by calling `uri_for(user)`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Addr, *,
                 strip: tuple[str, ...] = ("DPQ1",), zrtp_hash: str = "keep",
                 port: int = 0) -> None:
        if zrtp_hash not in DOWNGRADE_ZRTP_HASH:
            raise ValueError(f"downgrade zrtp_hash {zrtp_hash!r}: expected one of "
                             f"{DOWNGRADE_ZRTP_HASH}")
        self.loop = loop
        self.strip = strip
        self.zrtp_hash = zrtp_hash
        self.media: dict[str, DowngradeMedia] = {}
        self.sip = SipRelay(loop, target, self._new_media, port=port)

    def _new_media(self, call_id: str) -> CallMedia:
        media = DowngradeMedia(self.loop, call_id, strip=self.strip, zrtp_hash=self.zrtp_hash)
        self.media[call_id] = media
        return media

    def uri_for(self, user: str) -> str:
        return self.sip.uri_for(user)

    def snapshot(self) -> dict[str, Any]:
        return {"sip": dataclasses.asdict(self.sip.stats),
                "calls": {call_id: dict(m.counters) for call_id, m in self.media.items()}}

    def close(self) -> None:
        self.sip.close()
        for media in self.media.values():
            media.close()
