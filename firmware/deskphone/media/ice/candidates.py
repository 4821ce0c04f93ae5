"""What the SDP layer carries for ICE (RFC 8839), and the screening of a peer's candidates.

`IceCandidate` is a frozen copy of aioice's `Candidate`; its SDP form (the value of
`a=candidate:`, RFC 8839 §5.1) is read and written by aioice's own `Candidate.from_sdp` /
`to_sdp`, so the grammar lives in one place. aioice's parser is lenient (it checks the number of
fields and the integers, no more), so `from_sdp` adds the checks that keep a hostile offer from
reaching the agent: the "typ" keyword, ranges of component, priority and port, the foundation's
characters.

`screen_remote_candidates` then decides which of the peer's candidates the agent may ever send
a check to. The phone must never become a reflector or send traffic to an address the peer could
not have meant (issue 14, "Bad input"): unspecified, multicast, broadcast, reserved (240/4) and
port-0 candidates are refused, loopback ones unless this phone itself only has loopback (the
simulator), host names (RFC 8839 §5.1 allows an FQDN; resolving one would make signalling steer
our DNS and, for ".local", our mDNS traffic), components other than 1 (rtcp-mux, RFC 8843 is not
needed: one component only) and non-UDP transports (aioice has no ICE-TCP, RFC 6544). At most
MAX_REMOTE_CANDIDATES are kept, highest priority first: RFC 8445 §6.1.2.5 asks for a limit on
the check list (100 pairs recommended), and each remote candidate pairs with every local one.
Every refusal is counted by reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a phone without ICE never loads aioice (paths.py)
    from aioice import Candidate


MAX_REMOTE_CANDIDATES = 20
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")  # RFC 8839 §5.1: 1*32ice-char
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")


class CandidateError(ValueError):
    """An a=candidate value that is not RFC 8839 §5.1 syntax; the message says what is wrong."""


@dataclass(frozen=True)
class IceCandidate:
    foundation: str
    component: int
    transport: str
    priority: int
    host: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None

    @classmethod
    def from_aioice(cls, candidate: Candidate) -> IceCandidate:
        return cls(candidate.foundation, candidate.component, candidate.transport.lower(),
                   candidate.priority, candidate.host, candidate.port, candidate.type,
                   candidate.related_address, candidate.related_port, candidate.tcptype)

    def to_aioice(self) -> Candidate:
        from aioice import Candidate

        return Candidate(foundation=self.foundation, component=self.component,
                         transport=self.transport, priority=self.priority, host=self.host,
                         port=self.port, type=self.type, related_address=self.related_address,
                         related_port=self.related_port, tcptype=self.tcptype)

    def to_sdp(self) -> str:
        """The value of an `a=candidate:` line (RFC 8839 §5.1), written by aioice."""
        return str(self.to_aioice().to_sdp())

    @classmethod
    def from_sdp(cls, value: str) -> IceCandidate:
        """Parse the value of `a=candidate:` (the "candidate:" prefix is optional)."""
        text = value.strip()
        if text.lower().startswith("candidate:"):
            text = text[len("candidate:"):]
        fields = text.split()
        if len(fields) >= 8 and fields[6].lower() != "typ":
            raise CandidateError(f"a=candidate {value[:80]!r}: expected 'typ' as the 7th field")
        from aioice import Candidate

        try:
            parsed = Candidate.from_sdp(text)  # aioice: fields, integers, optional extensions
        except (ValueError, IndexError) as exc:
            raise CandidateError(f"a=candidate {value[:80]!r}: {exc}") from None
        candidate = cls.from_aioice(parsed)
        candidate._check(value)
        return candidate

    def _check(self, value: str) -> None:
        def bad(what: str) -> CandidateError:
            return CandidateError(f"a=candidate {value[:80]!r}: {what}")

        if not _FOUNDATION.fullmatch(self.foundation):
            raise bad("foundation must be 1 to 32 ice-chars (RFC 8839 §5.1)")
        if not 1 <= self.component <= 256:
            raise bad("component must be 1 to 256")
        if not 1 <= self.priority <= 2**31 - 1:
            raise bad("priority must be 1 to 2**31-1 (RFC 8445 §5.1.2)")
        if not 0 <= self.port <= 65535:
            raise bad("port must be 0 to 65535")
        if self.related_port is not None and not 0 <= self.related_port <= 65535:
            raise bad("rport must be 0 to 65535")
        if not self.type or not _ICE_CHARS.fullmatch(self.type):
            raise bad("candidate type must be a token")


@dataclass(frozen=True)
class IceParameters:
    """a=ice-ufrag and a=ice-pwd (RFC 8839 §5.4): the short-term credentials of one agent.

    The password keys every connectivity check's MESSAGE-INTEGRITY: it is in the SDP, never in a
    log line, hence out of repr.
    """

    ufrag: str
    pwd: str = field(repr=False)
    lite: bool = False  # a=ice-lite (RFC 8839 §5.3)

    def check(self) -> None:
        # RFC 8839 §5.4: ice-ufrag 4*256ice-char, ice-pwd 22*256ice-char
        if not 4 <= len(self.ufrag) <= 256 or not _ICE_CHARS.fullmatch(self.ufrag):
            raise CandidateError(f"a=ice-ufrag {self.ufrag[:80]!r}: expected 4 to 256 ice-chars")
        if not 22 <= len(self.pwd) <= 256 or not _ICE_CHARS.fullmatch(self.pwd):
            raise CandidateError(f"a=ice-pwd of {len(self.pwd)} characters: expected 22 to 256 "
                                 "ice-chars")


@dataclass(frozen=True)
class IceDescription:
    """One media stream's ICE attributes, as an offer or answer carries them."""

    parameters: IceParameters
    candidates: tuple[IceCandidate, ...]
    end_of_candidates: bool = True  # no trickle (RFC 8838) over SIP here: all in one go


@dataclass
class ScreenedCandidates:
    accepted: list[IceCandidate]
    refused: Counter[str]


def refusal_reason(candidate: IceCandidate, *, allow_loopback: bool,
                   local_broadcasts: frozenset[str] = frozenset(),
                   components: int = 1) -> str | None:
    """Why the agent must not send to `candidate`, or None when it may."""
    if not 1 <= candidate.component <= components:
        return "component"  # rtcp-mux: RTP, RTCP, ZRTP all on component 1 (RFC 5761)
    if candidate.transport != "udp":
        return "transport"
    if candidate.type not in CANDIDATE_TYPES:
        return "type"
    if candidate.port == 0:
        return "port"
    try:
        address = ipaddress.ip_address(candidate.host)
    except ValueError:
        return "hostname"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.version == 4 and (str(address) == "255.255.255.255"
                                 or str(address) in local_broadcasts):
        return "broadcast"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.version == 6 and address.is_link_local:
        return "link-local"  # unusable without a scope id, which SDP cannot carry
    if address.version == 4 and address in ipaddress.IPv4Network("240.0.0.0/4"):
        return "reserved"
    return None


def screen_remote_candidates(candidates: Iterable[IceCandidate], *, allow_loopback: bool,
                             local_broadcasts: frozenset[str] = frozenset(),
                             limit: int = MAX_REMOTE_CANDIDATES,
                             components: int = 1) -> ScreenedCandidates:
    """The peer's candidates the agent may check, best first, and the refusals by reason."""
    refused: Counter[str] = Counter()
    usable: list[IceCandidate] = []
    seen: set[tuple[str, int]] = set()
    for candidate in candidates:
        reason = refusal_reason(candidate, allow_loopback=allow_loopback,
                                local_broadcasts=local_broadcasts, components=components)
        if reason is None and (candidate.host, candidate.port) in seen:
            reason = "duplicate"
        if reason is not None:
            refused[reason] += 1
            continue
        seen.add((candidate.host, candidate.port))
        usable.append(candidate)
    usable.sort(key=lambda c: c.priority, reverse=True)
    if len(usable) > limit:
        refused["limit"] += len(usable) - limit
        usable = usable[:limit]
    return ScreenedCandidates(usable, refused)
