"""The ICE attributes of an audio stream (RFC 8839), as SDP text: no ICE logic here.

The SDP layer reads and writes `a=ice-ufrag`, `a=ice-pwd` (media level, or session level as a
fallback, RFC 8839 §5.4), `a=ice-lite` (session level, §5.3), `a=candidate` (media level, §5.1)
and `a=end-of-candidates` (RFC 8840 §4.1). It keeps each candidate as the value string: parsing
and screening a candidate is the ICE agent's (media/ice/candidates.py), which this layer does not
import (layers: sdp and media sit side by side). The default candidate (RFC 8839 §4.2.1.2) is
simply the c= address and m= port that `LocalMedia` already carries.

Limits: at most MAX_CANDIDATE_LINES a=candidate values are kept from a peer's description, the
rest are counted in `IceAttributes.dropped` (the agent screens and caps again, RFC 8445
§6.1.2.5). The ufrag and pwd are kept as the peer wrote them; the agent checks their grammar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deskphone.sdp.fields import Attribute

if TYPE_CHECKING:
    from deskphone.sdp.media_description import MediaDescription
    from deskphone.sdp.session import SessionDescription

MAX_CANDIDATE_LINES = 64
MAX_VALUE = 512  # characters of a candidate, ufrag or pwd value kept (longer: refused)


@dataclass(frozen=True)
class IceAttributes:
    """One side's ICE attributes for the audio stream."""

    ufrag: str
    pwd: str = field(repr=False)  # keys the connectivity checks: never in a log line
    candidates: tuple[str, ...] = ()  # a=candidate values, without "candidate:"
    lite: bool = False
    end_of_candidates: bool = True  # no trickle over SIP here (RFC 8840 not used)
    dropped: int = 0  # candidate lines beyond MAX_CANDIDATE_LINES or MAX_VALUE
    rtcp: str | None = None  # ours only: a=rtcp (RFC 3605) naming component 2's default
    # a=remote-candidates (RFC 8839 §5.2), the answerer's side of the nominated pair in a
    # controlling agent's subsequent offer ("1 <address> <port>"): ours when we write it, the
    # peer's value (first line, capped) when read
    remote_candidates: str | None = None


    def media_attributes(self) -> list[Attribute]:
        """Our attributes, media level (RFC 8839 §5.4 allows both; media level is what every
        ICE peer reads)."""
        attributes = [Attribute("rtcp", self.rtcp)] if self.rtcp else []
        attributes += [Attribute("ice-ufrag", self.ufrag), Attribute("ice-pwd", self.pwd)]
        attributes += [Attribute("candidate", value) for value in self.candidates]
        if self.remote_candidates:
            attributes.append(Attribute("remote-candidates", self.remote_candidates))
        if self.end_of_candidates:
            attributes.append(Attribute("end-of-candidates"))
        return attributes

    @classmethod
    def from_description(cls, session: SessionDescription,
                         media: MediaDescription) -> IceAttributes | None:
        """The peer's ICE attributes for `media`, or None when it does not do ICE (no ufrag or
        no pwd: RFC 8839 §5.4 requires both)."""
        ufrag = _first(media.attribute_values("ice-ufrag")
                       + session.attribute_values("ice-ufrag"))
        pwd = _first(media.attribute_values("ice-pwd") + session.attribute_values("ice-pwd"))
        if not ufrag or not pwd:
            return None
        kept: list[str] = []
        dropped = 0
        for value in media.attribute_values("candidate"):
            if (value is None or len(value) > MAX_VALUE
                    or len(kept) >= MAX_CANDIDATE_LINES):
                dropped += 1
                continue
            kept.append(value)
        lite = bool(session.attribute_values("ice-lite"))
        # Without trickle (RFC 8838 is not signalled over SIP here) an offer or answer holds
        # all of its candidates, whether or not it says a=end-of-candidates.
        remote = _first(media.attribute_values("remote-candidates"))
        return cls(ufrag[:MAX_VALUE], pwd[:MAX_VALUE], tuple(kept), lite=lite,
                   dropped=dropped, remote_candidates=remote[:MAX_VALUE] if remote else None)


def _first(values: list[str | None]) -> str | None:
    for value in values:
        if value:
            return value.strip()
    return None


__all__ = ["MAX_CANDIDATE_LINES", "IceAttributes"]
