"""RFC 3264 offer/answer for deskphone's single audio stream, over RFC 4566 descriptions.

Theory of operation
-------------------
One `OfferAnswer` lives for one call. Whichever side we play in each exchange, every body we send
carries the same o= username and session id, and the version goes up by one exactly when the
body changes (RFC 3264 §8: a re-offer that changes nothing keeps the version; one that changes
anything increments it).

- `create_offer(local)` writes an offer with our codecs in preference order, telephone-event
  (RFC 4733) when DTMF is on, `a=ptime`, an explicit direction, `a=rtcp-mux` (RFC 5761 §5.1.1)
  and `a=zrtp-hash` (RFC 6189 §8.1).
  `receive_answer(answer)` then checks the answer against that offer and returns `Negotiated`.
- `create_answer(offer, local)` answers a peer's offer: the first usable audio stream is accepted
  with our most preferred codec the peer also offered, using the peer's payload type numbers
  (RFC 3264 §6.1); every other m= line is answered with port 0 (§6), so the answer always has as
  many m= lines as the offer.
- RTCP multiplexing (RFC 5761 §5.1.1): we always offer `a=rtcp-mux` and answer it only when the
  offer carried it; `Negotiated.rtcp_mux` says whether both sides agreed. When False, RTCP uses
  the RTP port + 1 (RFC 3550 §11), which many phones (Linphone among them) still expect.

"No common codec" is not an exception: `Negotiated.rejected` is True and the caller answers 488
(RFC 3261 §21.4.26). A body that is not valid SDP, or an answer that breaks RFC 3264 §6 (wrong
number of m= lines, answer without an offer), raises `SdpError`.

`Negotiated.codec.payload_type` is the number the *remote* description gives the codec, i.e. the
one we put in the RTP we send; answers reuse the offer's numbers, so it is also what we receive.
Once a dynamic number is agreed it is reused in every later offer of the call (RFC 3264 §8.3.2).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field, replace

from deskphone.sdp.codecs import (
    DYNAMIC_PAYLOAD_TYPES,
    SUPPORTED_CODECS,
    TELEPHONE_EVENT,
    TELEPHONE_EVENT_FMTP,
    TELEPHONE_EVENT_PAYLOAD_TYPES,
    CodecChoice,
    negotiable_fmtp,
    spec_for_encoding,
)
from deskphone.sdp.errors import SdpError
from deskphone.sdp.ice import IceAttributes
from deskphone.sdp.session import (
    DIRECTIONS,
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

# Profiles we can answer: plain RTP, secured by ZRTP in the media path (RFC 6189 §1). RTP/SAVP
# means SDES keys in signalling, which deskphone does not do; such a stream is refused (port 0).
ACCEPTED_PROFILES = ("RTP/AVP", "RTP/AVPF")
ZRTP_VERSION = "1.10"                       # RFC 6189 §8.1: a=zrtp-hash:<version> <hash>
_ZRTP_HASH = re.compile(r"[0-9a-fA-F]{64}\Z")


@dataclass(frozen=True)
class LocalMedia:
    """What we want for our audio stream."""

    address: str
    port: int
    codecs: tuple[str, ...] = ("opus", "G722", "PCMU", "PCMA")   # preference order
    dtmf: bool = True
    zrtp_hash: str | None = None      # 64 hex digits, or "1.10 <64 hex digits>"
    direction: str = "sendrecv"
    ptime: int = 20
    rtcp_mux: bool = True             # offer / accept a=rtcp-mux (RFC 5761)
    ice: IceAttributes | None = None  # RFC 8839; address/port above are the default candidate

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise SdpError(f"LocalMedia address {self.address!r}: expected an IP address") from None
        if not 1 <= self.port <= 65535:
            raise SdpError(f"LocalMedia port {self.port}: expected 1-65535")
        if not self.codecs:
            raise SdpError("LocalMedia codecs is empty: expected at least one of "
                           f"{', '.join(SUPPORTED_CODECS)}")
        for name in self.codecs:
            if name not in SUPPORTED_CODECS:
                raise SdpError(f"LocalMedia codec {name!r}: expected one of "
                               f"{', '.join(SUPPORTED_CODECS)}")
        if len(set(self.codecs)) != len(self.codecs):
            raise SdpError(f"LocalMedia codecs {self.codecs!r}: each codec at most once")
        if self.direction not in DIRECTIONS:
            raise SdpError(f"LocalMedia direction {self.direction!r}: expected one of "
                           f"{', '.join(DIRECTIONS)}")
        if not 10 <= self.ptime <= 120 or self.ptime % 10:
            raise SdpError(f"LocalMedia ptime {self.ptime}: expected 10-120 ms in steps of 10")
        if self.zrtp_hash is not None and _split_zrtp_hash(self.zrtp_hash) is None:
            raise SdpError(f"LocalMedia zrtp_hash {self.zrtp_hash!r}: expected 64 hex digits, "
                           f"optionally after '{ZRTP_VERSION} '")


@dataclass(frozen=True)
class Negotiated:
    """The outcome of one offer/answer exchange for our audio stream."""

    remote_address: str
    remote_port: int
    codec: CodecChoice | None                 # None only when rejected
    dtmf_payload_type: int | None
    direction: str                            # OUR direction: may we send, may we receive
    remote_zrtp_hash: str | None              # lower-case hex, RFC 6189 §8.1
    rejected: bool
    remote_zrtp_version: str | None = None
    remote_ptime: int | None = None
    fmtp: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    rtcp_mux: bool = False                    # RFC 5761: RTCP on the RTP port (else port + 1)
    remote_ice: IceAttributes | None = field(default=None, compare=False)  # RFC 8839

    @property
    def may_send(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def may_receive(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


def _rejected(direction: str = "inactive") -> Negotiated:
    return Negotiated("", 0, None, None, direction, None, True)


def _split_zrtp_hash(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    parts = value.split()
    if len(parts) == 1 and _ZRTP_HASH.match(parts[0]):
        return ZRTP_VERSION, parts[0].lower()
    if len(parts) == 2 and re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", parts[0]) and _ZRTP_HASH.match(
        parts[1]
    ):
        return parts[0], parts[1].lower()
    return None


def _remote_zrtp_hash(
    session: SessionDescription, media: MediaDescription
) -> tuple[str, str] | None:
    """RFC 6189 §8.1: media level or session level; prefer the version we speak."""
    candidates = [
        parsed
        for value in media.attribute_values("zrtp-hash") + session.attribute_values("zrtp-hash")
        if (parsed := _split_zrtp_hash(value)) is not None
    ]
    for version, digest in candidates:
        if version == ZRTP_VERSION:
            return version, digest
    return candidates[0] if candidates else None


def _our_direction(remote: str, local: str) -> str:
    """RFC 3264 §6.1: we send only if they receive, we receive only if they send."""
    send = remote in ("sendrecv", "recvonly") and local in ("sendrecv", "sendonly")
    receive = remote in ("sendrecv", "sendonly") and local in ("sendrecv", "recvonly")
    return {
        (True, True): "sendrecv",
        (True, False): "sendonly",
        (False, True): "recvonly",
        (False, False): "inactive",
    }[(send, receive)]


def _remote_direction(session: SessionDescription, media: MediaDescription) -> str:
    direction = media.direction(session.direction)
    connection = session.media_connection(media)
    # RFC 3264 §8.4: c=0.0.0.0 is the old RFC 2543 hold: do not send to that address.
    if connection is not None and connection.is_unspecified:
        direction = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
    return direction


def _remote_ptime(media: MediaDescription) -> int | None:
    for value in media.attribute_values("ptime"):
        try:
            return int(float(value or ""))
        except ValueError:
            continue
    return None


def _has_rtcp_mux(media: MediaDescription) -> bool:
    """RFC 5761 §5.1.1: a=rtcp-mux is a media-level property attribute (no value)."""
    return bool(media.attribute_values("rtcp-mux"))


def _format_key(encoding: str, clock_rate: int, channels: int = 1) -> str:
    return f"{encoding.lower()}/{clock_rate}/{channels}"


def _addrtype(address: str) -> str:
    return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"


class OfferAnswer:
    """One call's offer/answer state: our o= line, the pending offer, agreed payload types."""

    def __init__(self, session_id: int | None = None, username: str = "-",
                 session_name: str = "-") -> None:
        # RFC 4566 §5.2 suggests an NTP timestamp; a random 62-bit number is as unique and
        # reveals nothing about the clock (see docs/privacy.md).
        self.session_id = str(session_id if session_id is not None else secrets.randbits(62))
        self.username = username
        self.session_name = session_name
        self.session_version = 0
        self._last_sent_core: bytes | None = None
        self._pending_offer: SessionDescription | None = None
        self._pending_local: LocalMedia | None = None
        self._payload_types: dict[str, int] = {}        # codec name -> agreed number
        self._peer_numbers: dict[int, str] = {}         # number -> format the peer gave it
        self.last_negotiated: Negotiated | None = None

    @property
    def offer_pending(self) -> bool:
        return self._pending_offer is not None

    # --- we offer -------------------------------------------------------------------------

    def create_offer(self, local: LocalMedia) -> bytes:
        """Our (re-)offer; a later `receive_answer` completes it (RFC 3264 §5)."""
        formats: list[str] = []
        attributes: list[Attribute] = []
        # Do not give a number the peer already uses to something else (RFC 3264 §8.3.2).
        peer = self._peer_numbers
        used: set[int] = set()
        for name in local.codecs:
            spec = SUPPORTED_CODECS[name]
            key = _format_key(spec.encoding, spec.clock_rate, spec.channels)
            number = self._payload_types.get(name, spec.default_payload_type)
            number = self._free_number(number, used | {n for n, k in peer.items() if k != key})
            used.add(number)
            formats.append(str(number))
            attributes.append(Attribute("rtpmap", RtpMap(number, spec.encoding, spec.clock_rate,
                                                         spec.channels).to_value()))
            if spec.fmtp:
                attributes.append(Attribute("fmtp", f"{number} {spec.fmtp}"))
        if local.dtmf:
            rates = sorted({SUPPORTED_CODECS[n].clock_rate for n in local.codecs}, reverse=True)
            for rate in rates:
                key = f"{TELEPHONE_EVENT}/{rate}"
                number = self._free_number(
                    self._payload_types.get(key, TELEPHONE_EVENT_PAYLOAD_TYPES.get(rate, 101)),
                    used | {n for n, k in peer.items() if k != _format_key(TELEPHONE_EVENT, rate)},
                )
                used.add(number)
                formats.append(str(number))
                attributes.append(Attribute("rtpmap", f"{number} {TELEPHONE_EVENT}/{rate}"))
                attributes.append(Attribute("fmtp", f"{number} {TELEPHONE_EVENT_FMTP}"))
        media = MediaDescription(
            media="audio", port=local.port, proto="RTP/AVP", formats=tuple(formats),
            attributes=tuple(attributes + self._common_attributes(local, local.direction,
                                                                  rtcp_mux=local.rtcp_mux)),
        )
        offer = self._description(local, media)
        self._pending_offer = offer
        self._pending_local = local
        return self._stamp(offer)

    def receive_answer(self, answer: bytes) -> Negotiated:
        """Check the peer's answer against our pending offer (RFC 3264 §6, §7)."""
        offer, local = self._pending_offer, self._pending_local
        if offer is None or local is None:
            raise SdpError("received an SDP answer but no offer of ours is pending (RFC 3264 §4)")
        remote = SessionDescription.parse(answer)
        if len(remote.media) != len(offer.media):
            raise SdpError(f"answer has {len(remote.media)} m= lines, expected "
                           f"{len(offer.media)} as in our offer (RFC 3264 §6)")
        self._pending_offer = self._pending_local = None
        media = remote.media[0]
        if media.port == 0 or media.media.lower() != "audio":
            return self._remember(_rejected())
        offered = offer.media[0]
        for number in media.payload_types():
            rtpmap = media.rtpmap(number) or offered.rtpmap(number)
            if rtpmap is None:
                continue
            spec = spec_for_encoding(rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels)
            if spec is None or spec.name not in local.codecs:
                continue
            codec = CodecChoice(spec.name, number, spec.clock_rate, spec.channels,
                                negotiable_fmtp(spec.name, media.fmtp(number)))
            # RFC 5761 §5.1.1: multiplexed only when we offered it and the answer echoes it
            mux = local.rtcp_mux and _has_rtcp_mux(media)
            return self._remember(self._negotiated(remote, media, codec, local, rtcp_mux=mux))
        return self._remember(_rejected())

    # --- they offer -----------------------------------------------------------------------

    def create_answer(self, offer: bytes, local: LocalMedia) -> tuple[bytes, Negotiated]:
        """Answer the peer's (re-)offer (RFC 3264 §6). Raises `SdpError` for malformed SDP."""
        remote = SessionDescription.parse(offer)
        self._pending_offer = self._pending_local = None   # an offer in the other direction
        answer_media: list[MediaDescription] = []
        negotiated: Negotiated | None = None
        for media in remote.media:
            if negotiated is None and self._usable(media):
                result = self._answer_stream(remote, media, local)
                if result is not None:
                    answered, negotiated = result
                    answer_media.append(answered)
                    continue
            # RFC 3264 §6: a refused stream keeps its m= line with port 0 and one format.
            answer_media.append(MediaDescription(
                media=media.media, port=0, proto=media.proto, formats=media.formats[:1] or ("0",),
            ))
        if negotiated is None:
            negotiated = _rejected()
        answer = self._description(local, *answer_media)
        return self._stamp(answer), self._remember(negotiated)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _usable(media: MediaDescription) -> bool:
        return (
            media.media.lower() == "audio"
            and media.port != 0
            and media.proto.upper() in ACCEPTED_PROFILES
        )

    def _answer_stream(
        self, remote: SessionDescription, media: MediaDescription, local: LocalMedia
    ) -> tuple[MediaDescription, Negotiated] | None:
        offered: dict[str, int] = {}
        for number in media.payload_types():
            rtpmap = media.rtpmap(number)
            if rtpmap is None:
                continue
            spec = spec_for_encoding(rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels)
            if spec is not None and spec.name not in offered:
                offered[spec.name] = number
        chosen = next((name for name in local.codecs if name in offered), None)
        if chosen is None:
            return None
        spec = SUPPORTED_CODECS[chosen]
        number = offered[chosen]
        codec = CodecChoice(chosen, number, spec.clock_rate, spec.channels,
                            negotiable_fmtp(chosen, media.fmtp(number)))
        attributes = [Attribute("rtpmap", RtpMap(number, spec.encoding, spec.clock_rate,
                                                 spec.channels).to_value())]
        if spec.fmtp:
            attributes.append(Attribute("fmtp", f"{number} {spec.fmtp}"))
        formats = [str(number)]
        dtmf = self._telephone_event(media, spec.clock_rate) if local.dtmf else None
        if dtmf is not None:
            formats.append(str(dtmf.payload_type))
            attributes.append(Attribute("rtpmap", dtmf.to_value()))
            attributes.append(Attribute("fmtp", f"{dtmf.payload_type} {TELEPHONE_EVENT_FMTP}"))
        # RFC 5761 §5.1.1: a=rtcp-mux goes in the answer only when the offer had it
        mux = local.rtcp_mux and _has_rtcp_mux(media)
        negotiated = self._negotiated(remote, media, codec, local, rtcp_mux=mux)
        answered = MediaDescription(
            media=media.media, port=local.port, proto=media.proto, formats=tuple(formats),
            attributes=tuple(attributes + self._common_attributes(local, negotiated.direction,
                                                                  rtcp_mux=mux)),
        )
        return answered, negotiated

    @staticmethod
    def _telephone_event(media: MediaDescription, clock_rate: int) -> RtpMap | None:
        """RFC 4733 §2.1: prefer the event clock that matches the audio codec's."""
        events = [
            rtpmap
            for number in media.payload_types()
            if (rtpmap := media.rtpmap(number)) is not None
            and rtpmap.encoding.lower() == TELEPHONE_EVENT
        ]
        for wanted in (clock_rate, 8000):
            for rtpmap in events:
                if rtpmap.clock_rate == wanted:
                    return rtpmap
        return events[0] if events else None

    def _negotiated(self, remote: SessionDescription, media: MediaDescription,
                    codec: CodecChoice, local: LocalMedia, *, rtcp_mux: bool) -> Negotiated:
        for number in media.payload_types():
            if (rtpmap := media.rtpmap(number)) is not None:
                self._peer_numbers[number] = _format_key(
                    rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels)
        connection = remote.media_connection(media)
        assert connection is not None   # parse() guarantees one for a port != 0 stream
        zrtp = _remote_zrtp_hash(remote, media)
        dtmf = self._telephone_event(media, codec.clock_rate) if local.dtmf else None
        self._payload_types[codec.name] = codec.payload_type
        if dtmf is not None:
            self._payload_types[f"{TELEPHONE_EVENT}/{dtmf.clock_rate}"] = dtmf.payload_type
        return Negotiated(
            remote_address=connection.address,
            remote_port=media.port,
            codec=codec,
            dtmf_payload_type=dtmf.payload_type if dtmf else None,
            direction=_our_direction(_remote_direction(remote, media), local.direction),
            remote_zrtp_hash=zrtp[1] if zrtp else None,
            rejected=False,
            remote_zrtp_version=zrtp[0] if zrtp else None,
            remote_ptime=_remote_ptime(media),
            fmtp=codec.fmtp,
            rtcp_mux=rtcp_mux,
            remote_ice=IceAttributes.from_description(remote, media),
        )

    def _remember(self, negotiated: Negotiated) -> Negotiated:
        self.last_negotiated = negotiated
        return negotiated

    @staticmethod
    def _free_number(preferred: int, used: set[int]) -> int:
        if preferred not in used:
            return preferred
        for number in DYNAMIC_PAYLOAD_TYPES:
            if number not in used:
                return number
        raise SdpError("no free dynamic payload type left (RFC 3551 §3: 96-127)")

    @staticmethod
    def _common_attributes(local: LocalMedia, direction: str, *,
                           rtcp_mux: bool) -> list[Attribute]:
        attributes = [Attribute("ptime", str(local.ptime)), Attribute(direction)]
        if rtcp_mux:
            attributes.append(Attribute("rtcp-mux"))
        split = _split_zrtp_hash(local.zrtp_hash)
        if split is not None:
            attributes.append(Attribute("zrtp-hash", f"{split[0]} {split[1]}"))
        if local.ice is not None:
            attributes += local.ice.media_attributes()
        return attributes

    def _description(self, local: LocalMedia, *media: MediaDescription) -> SessionDescription:
        addrtype = _addrtype(local.address)
        return SessionDescription(
            origin=Origin(self.username, self.session_id, self.session_version, addrtype,
                          local.address),
            session_name=self.session_name,
            connection=Connection(addrtype, local.address),
            media=tuple(media),
        )

    def _stamp(self, description: SessionDescription) -> bytes:
        """RFC 3264 §8: same o= line, version + 1 exactly when the body changed."""
        core = description.to_bytes().split(b"\r\n", 2)[2]   # everything after v= and o=
        if self._last_sent_core is not None and core != self._last_sent_core:
            self.session_version += 1
        self._last_sent_core = core
        origin = replace(description.origin, session_version=self.session_version)
        return replace(description, origin=origin).to_bytes()
