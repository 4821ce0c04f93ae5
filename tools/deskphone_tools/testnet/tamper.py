"""An on-path attacker that leaves ZRTP's keys alone and tampers with what it can (issue 13).

`TamperingRelay` is the SIP relay (sip_relay.py) with a `TamperingMedia` per call. Media passes
unchanged, as through a clean lossy relay, except for what the relay is told to do:

* `drop`: ZRTP message types (8-octet type blocks, e.g. b"Conf2ACK") dropped in both directions
  (RFC 6189 §5.8: an initiator that never sees Conf2ACK);
* `error_after`: after forwarding a ZRTP message of one of these types, a forged ZRTP Error
  (§5.9: Error is not authenticated, anyone on the path can send one) goes to that message's
  receiver; and with `error_every`, to both phones after every so many media packets;
* `corrupt_zrtp_hash`: the a=zrtp-hash in the SDP from that side is replaced by another valid-
  looking one, so its real Hello no longer matches (§8.1.1).

Every forged Error comes from the relay's port facing the phone, i.e. from the address that
phone's SDP names as its peer: what an attacker on the path can do. The relay keeps the last RTP
payloads it carried from each side (`payloads`) so a test can check that none of them is
cleartext audio. Loopback only, free ports.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses

from deskphone.media.demux import PacketKind, classify
from deskphone.sdp import SessionDescription
from deskphone.zrtp import packets

from .impairment import CLEAN
from .lossy import ForwardingMedia
from .sip_relay import CallMedia, Side, SipRelay
from .udp import Addr

KEPT_PAYLOADS = 250  # the last 5 s of 20 ms packets from each side
FORGED_ERROR = packets.ERROR_PROTOCOL_TIMEOUT  # any code: none may end a confirmed handshake


@dataclasses.dataclass(frozen=True)
class Tampering:
    drop: frozenset[bytes] = frozenset()
    error_after: frozenset[bytes] = frozenset()
    error_every: int = 0  # media packets between forged Errors to both phones; 0: none
    corrupt_zrtp_hash: Side | None = None


class TamperingMedia(ForwardingMedia):
    def __init__(self, loop: asyncio.AbstractEventLoop, call_id: str, tampering: Tampering
                 ) -> None:
        super().__init__(loop, call_id, CLEAN)
        self.tampering = tampering
        self.payloads: dict[Side, collections.deque[bytes]] = {
            side: collections.deque(maxlen=KEPT_PAYLOADS) for side in Side}
        self._zrtp_ssrc: dict[Side, int] = {}
        self._media_packets = 0
        self._forged_sequence = 0

    def filter_sdp(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        if self.tampering.corrupt_zrtp_hash is not sender:
            return sdp
        self.counters[f"zrtp-hash corrupted from {sender.value}"] += 1
        media = tuple(dataclasses.replace(m, attributes=tuple(_corrupt(a) for a in m.attributes))
                      for m in sdp.media)
        return dataclasses.replace(sdp, attributes=tuple(_corrupt(a) for a in sdp.attributes),
                                   media=media)

    def _received(self, side: Side, data: bytes) -> None:
        kind = classify(data)
        if kind is PacketKind.ZRTP:
            self._zrtp(side, data)
            return
        if kind is PacketKind.RTP and len(data) > 12:
            self.payloads[side].append(data[12:])
        super()._received(side, data)
        every = self.tampering.error_every
        if kind in (PacketKind.RTP, PacketKind.RTCP) and every:
            self._media_packets += 1
            if self._media_packets % every == 0:
                for target in Side:
                    self._forge_error(target)

    def _zrtp(self, side: Side, data: bytes) -> None:
        try:
            packet = packets.decode_packet(data)
        except packets.MalformedPacket:
            super()._received(side, data)
            return
        self._zrtp_ssrc[side] = packet.ssrc
        name = packets.message_type(packet.message)
        label = name.decode("ascii", "replace").strip()
        if name in self.tampering.drop:
            self.counters[f"zrtp {label} dropped from {side.value}"] += 1
            return
        super()._received(side, data)
        if name in self.tampering.error_after:
            self._forge_error(side.other)

    def _forge_error(self, target: Side) -> None:
        """A ZRTP Error to `target`, as if from its peer (that peer's SSRC, §5)."""
        ssrc = self._zrtp_ssrc.get(target.other)
        if ssrc is None:
            return
        self._forged_sequence += 1
        forged = packets.encode_packet(self._forged_sequence, ssrc,
                                       packets.ErrorMessage(FORGED_ERROR).encode())
        if self.send_to(target, forged):
            self.counters[f"forged Error to {target.value}"] += 1


def _corrupt(attribute):  # an sdp Attribute; its value is "<version> <64 hex digits>"
    if attribute.name.lower() != "zrtp-hash" or not attribute.value:
        return attribute
    version, _, digest = attribute.value.partition(" ")
    flipped = f"{int(digest[:2], 16) ^ 0xFF:02x}{digest[2:]}"
    return dataclasses.replace(attribute, value=f"{version} {flipped}")


class TamperingRelay:
    """SIP relay + one `TamperingMedia` per call."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Addr, tampering: Tampering, *,
                 port: int = 0) -> None:
        self.loop = loop
        self.tampering = tampering
        self.media: dict[str, TamperingMedia] = {}
        self.sip = SipRelay(loop, target, self._new_media, port=port)

    def _new_media(self, call_id: str) -> CallMedia:
        relay = TamperingMedia(self.loop, call_id, self.tampering)
        self.media[call_id] = relay
        return relay

    def uri_for(self, user: str) -> str:
        return self.sip.uri_for(user)

    def latest(self) -> TamperingMedia:
        return list(self.media.values())[-1]

    def snapshot(self) -> dict[str, object]:
        return {"sip": vars(self.sip.stats).copy(),
                "calls": {call_id: {"counters": dict(m.counters),
                                    "remote": {s.value: m.remote[s] for s in Side}}
                          for call_id, m in self.media.items()}}

    def close(self) -> None:
        self.sip.close()
        for media in self.media.values():
            media.close()
