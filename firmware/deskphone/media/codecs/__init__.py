"""Audio codecs behind one small interface (baresip's `aucodec` idea).

`create_codec(spec)` returns a `Codec`: it turns one 20 ms frame of S16LE mono PCM at
`codec.sample_rate` into one RTP payload and back, and conceals a lost frame. Peers may send
longer or shorter packets (a=ptime 10..120 ms, RFC 3551 §4.2): `payload_duration` says how many
RTP timestamp units a received payload covers (None: cannot tell) and `decode` returns all of
it. G.711 is pure Python; G.722 and Opus use PyAV (`av`), which _av.py imports only when such a call
starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from deskphone.media.codecs.g711 import G711Codec
from deskphone.media.codecs.g722 import G722Codec
from deskphone.media.codecs.opus import OpusCodec

FRAME_MS = 20


class NegotiatedCodec(Protocol):
    """One negotiated codec as the offer/answer chose it (RFC 4566 a=rtpmap/a=fmtp): the shape of
    `deskphone.sdp.CodecChoice`, which is what the call layer hands over. clock_rate is the RTP
    clock. Read-only: the media layer never changes what was negotiated."""

    @property
    def name(self) -> str: ...  # "PCMU", "PCMA", "G722", "opus"
    @property
    def payload_type(self) -> int: ...
    @property
    def clock_rate(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def fmtp(self) -> Mapping[str, str]: ...


def codec_key(spec: NegotiatedCodec) -> tuple[object, ...]:
    """What makes two negotiated codecs the same encoder: fmtp included (a re-INVITE that changes
    Opus's maxaveragebitrate needs a new encoder)."""
    return (spec.name, spec.payload_type, spec.clock_rate, spec.channels,
            tuple(sorted(spec.fmtp.items())))


class Codec(Protocol):
    name: str
    sample_rate: int  # PCM rate decode() and conceal() produce
    encode_rate: int  # PCM rate encode() takes (Opus: the capture device's, see opus.py)
    frame_samples: int  # PCM samples per 20 ms frame
    timestamp_increment: int  # RTP timestamp units per 20 ms frame

    def encode(self, pcm: bytes) -> bytes: ...
    def decode(self, payload: bytes) -> bytes: ...  # a packet of any duration the codec allows
    def conceal(self) -> bytes: ...  # at least one 20 ms frame standing in for a lost packet
    def payload_duration(self, payload: bytes) -> int | None: ...  # RTP timestamp units


class CodecError(ValueError):
    """A codec that cannot be created as specified."""


def _opus_bitrate(maxaveragebitrate: str | None) -> int:
    """RFC 7587 §6.1: values outside 6000-510000 SHOULD be ignored; so is anything not a
    number (the SDP layer drops those at negotiation, this keeps a hand-built spec safe)."""
    value = maxaveragebitrate or ""
    if value.isascii() and value.isdigit() and len(value) <= 7 and 6000 <= int(value) <= 510000:
        return int(value)
    return 24000


def create_codec(spec: NegotiatedCodec, *, secure: bool = True,
                 capture_rate: int | None = None) -> Codec:
    """Build the codec for `spec`. `secure` makes Opus constant-bitrate unless the fmtp says
    otherwise (variable bitrate leaks speech content through packet sizes, RFC 6562).
    `capture_rate`: the capture device's rate; Opus encodes at it when libopus can (opus.py)."""
    name = spec.name.upper()
    if spec.channels != 1 and name != "OPUS":
        raise CodecError(f"codec {spec.name} with {spec.channels} channels, expected mono")
    if name in ("PCMU", "PCMA"):
        return G711Codec(alaw=name == "PCMA")
    if name == "G722":
        return G722Codec()
    if name == "OPUS":
        cbr = spec.fmtp.get("cbr", "1" if secure else "0") == "1"
        return OpusCodec(bitrate=_opus_bitrate(spec.fmtp.get("maxaveragebitrate")), cbr=cbr,
                         capture_rate=capture_rate or OpusCodec.sample_rate)
    raise CodecError(f"codec {spec.name!r} unsupported, expected PCMU, PCMA, G722 or opus")
