"""The privacy option: which identifying details the SIP user agent leaves out.

ZRTP hides what is said, not who called whom, when, or from where (see docs/privacy.md). This
policy trims what deskphone adds *on top of* what routing needs: the SIP UA consults it when it
builds a request or response. With privacy off it returns the normal values.

What it does when enabled (RFC 3261 section beside each):
- no User-Agent (§20.41) and no Server (§20.35) header: the firmware and version stay unsaid;
- no display name in From/To/Contact (§20.20): only the URI, which routing needs;
- Call-ID (§8.1.1.4) is 128 random bits with no "@host" part; tags (§19.3) and branches
  (§8.1.1.7) are random only — nothing derived from a host name, address, MAC or clock;
- optional headers are dropped: Organization, Subject, Date, Timestamp, Call-Info, Alert-Info,
  Reply-To, In-Reply-To, Priority, Warning (its text names the host), Accept-Language,
  Error-Info, and any X- header;
- SDP (RFC 4566 §5.2/§5.3): o= username "-" and s= "-"; the session id is random (not an NTP
  time). The connection address must stay: media goes peer to peer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# RFC 3261 §20: headers a UA may omit without changing what the request does.
OPTIONAL_HEADERS = frozenset(
    name.lower()
    for name in (
        "User-Agent", "Server", "Organization", "Subject", "s", "Date", "Timestamp",
        "Call-Info", "Alert-Info", "Reply-To", "In-Reply-To", "Priority", "Warning",
        "Accept-Language", "Error-Info",
    )
)


@dataclass(frozen=True)
class PrivacyPolicy:
    enabled: bool = False
    user_agent: str = "deskphone/0.1"
    # Injected for tests; returns n random bytes as hex.
    token_hex: Callable[[int], str] = field(default=secrets.token_hex, compare=False)

    def user_agent_header(self) -> str | None:
        """The User-Agent value, or None to leave the header out (RFC 3261 §20.41)."""
        return None if self.enabled else self.user_agent

    def server_header(self) -> str | None:
        """The Server value for our responses, or None (RFC 3261 §20.35)."""
        return None if self.enabled else self.user_agent

    def display_name(self, configured: str | None) -> str | None:
        """The display name for From/Contact; None means the bare URI (RFC 3261 §20.20)."""
        return None if self.enabled else configured

    def new_call_id(self, host: str) -> str:
        """RFC 3261 §8.1.1.4: random, globally unique; "@host" only when privacy is off."""
        random_part = self.token_hex(16)
        return random_part if self.enabled else f"{random_part}@{host}"

    def new_tag(self) -> str:
        """RFC 3261 §19.3: at least 32 bits of randomness; we use 64, nothing else."""
        return self.token_hex(8)

    def new_branch(self) -> str:
        """RFC 3261 §8.1.1.7: the magic cookie, then randomness only."""
        return "z9hG4bK" + self.token_hex(12)

    def allows_header(self, name: str) -> bool:
        """Whether the UA may send a header with this name."""
        if not self.enabled:
            return True
        lowered = name.strip().lower()
        return lowered not in OPTIONAL_HEADERS and not lowered.startswith("x-")

    def filter_headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, value) for name, value in headers if self.allows_header(name)]

    def sdp_username(self, configured: str) -> str:
        """o= username (RFC 4566 §5.2): "-" hides the SIP user name from the media path."""
        return "-" if self.enabled else configured
