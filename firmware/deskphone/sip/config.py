"""The user agent's configuration and counters, shared by its parts (builder, registration,
INVITE sessions, in-dialog requests), which must not import the `UserAgent` that owns them."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.sip.account import Account


@dataclass(frozen=True)
class UaConfig:
    user: str
    display_name: str
    local_host: str
    local_port: int
    transport: str = "udp"
    user_agent: str | None = "deskphone/0.1"
    accounts: tuple[Account, ...] = ()
    # docs/privacy.md: no User-Agent/Server, no display name, no host in Call-ID, no optional
    # headers (deskphone.routing.privacy.PrivacyPolicy decides each item).
    privacy: bool = False
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    max_redirects: int = 3
    seed: int | None = None  # for the 491 back-off (RFC 3261 §14.1); None: from secrets
    # Server transactions remote parties may hold open before new out-of-dialog requests are
    # answered statelessly (stateless.py, RFC 3261 §8.2.7). A phone needs a handful; a flood of
    # 2,000/s would otherwise hold 64,000 (64*T1 each).
    max_server_transactions: int = 128
    # admission.py: of those, what one source address may hold, and a reserve on top for the
    # sources the phone knows (registrars, LAN directory peers, dialog peers).
    max_server_transactions_per_source: int = 16
    known_server_transactions: int = 32
    # RFC 4028 (session_timer.py): the session interval we offer (0: none) and our Min-SE.
    session_expires: int = 1800
    min_se: int = 90


@dataclass
class UaStats:
    malformed_answered: int = 0
    malformed_dropped: int = 0
    responses_unmatched: int = 0
    requests_unmatched: int = 0
    retransmissions_absorbed: int = 0
    auth_retries: int = 0
    auth_foreign_realm: int = 0  # challenges refused: their realm is not the account's
    stateless_answered: int = 0  # new requests answered without state: too many open (§8.2.7)
    overload_dropped: int = 0  # ACK/CANCEL matching nothing while overloaded: ignored (§8.2.7)
    keepalives_sent: int = 0  # CRLF keep-alives on registered UDP flows (RFC 5626 §4.4)
    flow_checks_sent: int = 0  # OPTIONS asking the registrar which mapping it sees (flow.py)
    flow_changes: int = 0  # ... that came back with another mapping: registered again
    flow_failures: int = 0  # ... that got no answer within 10 s: registered again
    session_refreshes_sent: int = 0  # RFC 4028 §10 refresh re-INVITEs of ours
    sessions_expired: int = 0  # ... calls ended with BYE: no refresh came in time (§10)


__all__ = ["UaConfig", "UaStats"]
