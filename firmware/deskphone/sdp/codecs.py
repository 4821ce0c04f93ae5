"""The audio codecs deskphone can negotiate, and how each one is written in SDP.

Static payload types come from RFC 3551 §6 table 4 and may appear in an m= line without an
a=rtpmap. G.722's RTP clock rate is 8000 although it samples at 16 kHz (RFC 3551 §4.5.2, a
historical error kept for compatibility). Opus is always "opus/48000/2" in SDP whatever is
actually sent (RFC 7587 §7). telephone-event is RFC 4733.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CodecChoice:
    """One negotiated format: what the media pipeline needs to encode and packetise."""

    name: str                 # canonical name: "opus", "G722", "PCMU", "PCMA"
    payload_type: int
    clock_rate: int           # RTP timestamp rate
    channels: int = 1
    fmtp: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class CodecSpec:
    name: str
    encoding: str             # as written in a=rtpmap, compared case-insensitively
    clock_rate: int
    channels: int
    static_payload_type: int | None
    default_payload_type: int
    fmtp: str | None = None


# Our offer's default fmtp for Opus: in-band FEC helps on Wi-Fi (RFC 7587 §6.1 parameters).
SUPPORTED_CODECS: dict[str, CodecSpec] = {
    "opus": CodecSpec("opus", "opus", 48000, 2, None, 111, "useinbandfec=1"),
    "G722": CodecSpec("G722", "G722", 8000, 1, 9, 9),
    "PCMU": CodecSpec("PCMU", "PCMU", 8000, 1, 0, 0),
    "PCMA": CodecSpec("PCMA", "PCMA", 8000, 1, 8, 8),
}

# RFC 3551 §6 table 4: static audio payload types a peer may use without a=rtpmap.
STATIC_AUDIO_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
}

TELEPHONE_EVENT = "telephone-event"
# RFC 4733 §2.3: events 0-15 are the DTMF digits, 16 is flash.
TELEPHONE_EVENT_FMTP = "0-16"
TELEPHONE_EVENT_PAYLOAD_TYPES = {8000: 101, 48000: 100}
DYNAMIC_PAYLOAD_TYPES = range(96, 128)   # RFC 3551 §3


# RFC 7587 §6.1: the Opus parameters we act on and the values each may take. A parameter we do
# not list is passed through (it changes nothing); a listed one with any other value is dropped
# at negotiation, as if absent, so a peer's `maxaveragebitrate=x` gives the default bitrate
# instead of a codec that cannot be built at media start (issue 21 item 4). §6.1 itself says
# bitrates outside 6000-510000 "SHOULD be ignored".
_FLAG = frozenset({"0", "1"})
_OPUS_FMTP_RANGES: dict[str, tuple[int, int]] = {
    "maxaveragebitrate": (6000, 510000),
    "maxplaybackrate": (8000, 48000),
    "sprop-maxcapturerate": (8000, 48000),
    "maxptime": (3, 120),
    "ptime": (3, 120),
    "minptime": (3, 120),
}
_OPUS_FMTP_FLAGS = frozenset({"cbr", "useinbandfec", "usedtx", "stereo", "sprop-stereo"})


def _in_range(value: str, low: int, high: int) -> bool:
    # ASCII digits only, bounded length: `int()` takes "²"-free Unicode digits and refuses
    # 4,300-digit strings, neither of which belongs in an fmtp value (RFC 4566 §9 DIGIT).
    return (
        value.isascii() and value.isdigit() and len(value) <= 7 and low <= int(value) <= high
    )


def negotiable_fmtp(codec_name: str, fmtp: dict[str, str]) -> dict[str, str]:
    """The peer's a=fmtp parameters for `codec_name` with every malformed known value dropped."""
    if codec_name != "opus":
        return dict(fmtp)
    kept: dict[str, str] = {}
    for key, value in fmtp.items():
        name = key.lower()
        if name in _OPUS_FMTP_FLAGS and value not in _FLAG:
            continue
        if name in _OPUS_FMTP_RANGES and not _in_range(value, *_OPUS_FMTP_RANGES[name]):
            continue
        kept[name if name in _OPUS_FMTP_FLAGS or name in _OPUS_FMTP_RANGES else key] = value
    return kept


def spec_for_encoding(encoding: str, clock_rate: int, channels: int) -> CodecSpec | None:
    """The codec we support that an rtpmap entry describes, if any."""
    for spec in SUPPORTED_CODECS.values():
        if (
            spec.encoding.lower() == encoding.lower()
            and spec.clock_rate == clock_rate
            # "opus/48000" without the /2 is seen in the wild; RFC 7587 §7 wants /2
            and (spec.channels == channels or (spec.name == "opus" and channels == 1))
        ):
            return spec
    return None
