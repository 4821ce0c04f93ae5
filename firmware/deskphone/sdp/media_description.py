"""One media description of an SDP body: an m= section (RFC 4566 §5.14) and what it offers.

Built by the parser in `deskphone.sdp.session`, read by offer/answer: the formats as RTP payload
types, each one's rtpmap and fmtp, the stream's direction; written back line by line in the order
of RFC 4566 §5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from deskphone.sdp import fields
from deskphone.sdp.codecs import STATIC_AUDIO_PAYLOAD_TYPES
from deskphone.sdp.fields import Attribute, Connection, RtpMap, attribute_values, direction_of


@dataclass(frozen=True)
class MediaDescription:
    """One m= section (RFC 4566 §5.14) with its c=, b=, k=, i= and a= lines."""

    media: str                                # "audio", "video", ...
    port: int                                 # 0 = stream rejected or disabled (RFC 3264 §6)
    proto: str                                # "RTP/AVP", "RTP/SAVP", ...
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    extra_lines: tuple[tuple[str, str], ...] = ()   # i=, b=, k= verbatim

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.proto.upper()

    def payload_types(self) -> list[int]:
        """The m= line's formats as RTP payload types, in the peer's order of preference."""
        return [int(f) for f in self.formats] if self.is_rtp else []

    def attribute_values(self, name: str) -> list[str | None]:
        return attribute_values(self.attributes, name)

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The format's rtpmap, falling back to RFC 3551's static table for 0-34."""
        parsed = self._rtpmaps.get(payload_type)
        if parsed is not None:
            return parsed
        static = STATIC_AUDIO_PAYLOAD_TYPES.get(payload_type)
        if static is not None:
            return RtpMap(payload_type, static[0], static[1], static[2])
        return None

    def fmtp(self, payload_type: int) -> dict[str, str]:
        """a=fmtp parameters as a dict; `0-16`-style values with no `=` map to ""."""
        params = self._fmtps.get(str(payload_type))
        if params is None:
            return {}
        result: dict[str, str] = {}
        for part in re.split(r"[;\s]+", params.strip()):
            if not part:
                continue
            key, eq, val = part.partition("=")
            result[key.strip()] = val.strip() if eq else ""
        return result

    # One pass over the attributes builds each index, so looking up every offered format costs
    # formats + attributes, not formats x attributes (issue 21 item 1). The first line for a
    # payload type wins, as before. Not dataclass fields: equality and repr ignore them.
    @cached_property
    def _rtpmaps(self) -> dict[int, RtpMap]:
        index: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            # looked up on the module so tests can count the parses (tests/sdp/test_limits.py)
            parsed = fields.parse_rtpmap(value)
            if parsed is not None:
                index.setdefault(parsed.payload_type, parsed)
        return index

    @cached_property
    def _fmtps(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for value in self.attribute_values("fmtp"):
            if value is not None:
                head, _, params = value.partition(" ")
                index.setdefault(head.strip(), params)
        return index

    def direction(self, session_default: str | None = None) -> str:
        """RFC 3264 §5.1: media-level beats session-level; sendrecv when neither says."""
        return direction_of(self.attributes) or session_default or "sendrecv"

    def to_lines(self) -> list[str]:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [" ".join(["m=" + self.media, port, self.proto, *self.formats])]
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "i"]
        if self.connection is not None:
            lines.append(self.connection.to_line())
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "b"]
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "k"]
        lines += [a.to_line() for a in self.attributes]
        return lines


__all__ = ["MediaDescription"]
