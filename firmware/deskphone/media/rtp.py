"""RTP packets (RFC 3550 §5.1): parse and build, nothing else.

A packet is a frozen dataclass; `parse_rtp` turns bytes into one or raises `RtpError` naming the
field, the value and what was expected; `RtpPacket.serialize()` turns it back into bytes.
Sequence-number and timestamp arithmetic helpers live here too because every consumer of RTP
(jitter buffer, RTCP statistics, DTMF) needs the same modulo-2^16 / 2^32 comparisons.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
# RFC 3550 §5.1 fixed header; the media stream packs and reads it in place on its fast paths
FIXED_HEADER = struct.Struct("!BBHII")
PLAIN_V2 = 0x80  # first octet of the usual packet: V=2, no padding, extension or CSRC


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet."""


@dataclass(frozen=True, slots=True)
class RtpHeaderExtension:
    """RFC 3550 §5.3.1: a 16-bit profile-defined id and a body of whole 32-bit words."""

    profile: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpHeaderExtension | None = None
    # Number of padding octets to append on serialize (RFC 3550 §5.1 "P"); 0 means no padding.
    padding: int = 0

    def serialize(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"RTP payload type {self.payload_type} out of range, expected 0..127")
        if len(self.csrcs) > 15:
            raise RtpError(f"RTP CSRC count {len(self.csrcs)} too large, expected at most 15")
        if not 0 <= self.padding <= 255:
            raise RtpError(f"RTP padding {self.padding} out of range, expected 0..255")
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            FIXED_HEADER.pack(
                first,
                second,
                self.sequence & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        for csrc in self.csrcs:
            parts.append(struct.pack("!I", csrc & 0xFFFFFFFF))
        if self.extension is not None:
            body = self.extension.data
            if len(body) % 4:
                raise RtpError(
                    f"RTP header extension length {len(body)} is not a multiple of 4 octets"
                )
            parts.append(struct.pack("!HH", self.extension.profile & 0xFFFF, len(body) // 4))
            parts.append(body)
        parts.append(self.payload)
        if self.padding:
            # RFC 3550 §5.1: the last padding octet counts the padding, itself included.
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet (RFC 3550 §5.1, §5.3.1). Raises RtpError on malformed input."""
    if len(data) < RTP_HEADER_SIZE:
        raise RtpError(f"RTP packet of {len(data)} octets is shorter than the 12-octet header")
    first, second, sequence, timestamp, ssrc = FIXED_HEADER.unpack_from(data)
    version = first >> 6
    if version != RTP_VERSION:
        raise RtpError(f"RTP version {version}, expected {RTP_VERSION}")
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0:
            raise RtpError("RTP padding flag set but padding count is 0")
    csrc_count = first & 0x0F
    offset = RTP_HEADER_SIZE + 4 * csrc_count
    if offset > end:
        raise RtpError(f"RTP packet of {end} octets too short for {csrc_count} CSRCs")
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, RTP_HEADER_SIZE) if csrc_count else ()
    extension = None
    if first & 0x10:
        if offset + 4 > end:
            raise RtpError("RTP extension flag set but packet ends before the extension header")
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        if offset + 4 * words > end:
            raise RtpError(
                f"RTP header extension of {words} words runs past the end of a {end}-octet packet"
            )
        extension = RtpHeaderExtension(profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    if offset + padding > end:
        raise RtpError(
            f"RTP padding count {padding} exceeds the {end - offset} octets after the header"
        )
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset : end - padding]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
        extension=extension,
        padding=padding,
    )


def seq_delta(newer: int, older: int) -> int:
    """Signed distance newer - older between two 16-bit sequence numbers (RFC 3550 §A.1)."""
    d = (newer - older) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


def ts_delta(newer: int, older: int) -> int:
    """Signed distance newer - older between two 32-bit RTP timestamps."""
    d = (newer - older) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d
