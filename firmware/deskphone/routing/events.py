"""Events the routing cores hand to the application (frozen dataclasses, aioquic style)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegisterWith:
    """Send REGISTER for `account` to `registrar` now (RFC 3261 §10.2)."""

    account: str
    registrar: str
    reason: str            # "start", "failover", "fallback", "retry"


@dataclass(frozen=True)
class Unregister:
    """Remove our binding from a registrar we left (REGISTER with Expires: 0, RFC 3261 §10.2.2)."""

    account: str
    registrar: str


@dataclass(frozen=True)
class ProbeRegistrar:
    """Check whether the primary is back: an OPTIONS request to it (RFC 3261 §11)."""

    account: str
    registrar: str


@dataclass(frozen=True)
class AllRegistrarsDown:
    """Every registrar failed; the next attempt is at `retry_at` (RFC 5626 §4.5 back-off)."""

    account: str
    retry_at: float


@dataclass(frozen=True)
class PeerAdded:
    extension: str


@dataclass(frozen=True)
class PeerRemoved:
    extension: str


RoutingEvent = RegisterWith | Unregister | ProbeRegistrar | AllRegistrarsDown
