"""A SIP account: the registrar, the identity and the credentials (RFC 3261 §10, §22)."""

from __future__ import annotations

from dataclasses import dataclass, field

from deskphone.sip.uri import SipSyntaxError, SipUri, parse_uri, split_hostport


@dataclass(frozen=True)
class Account:
    registrar: str  # host[:port] or a sip: URI
    user: str
    password: str = field(repr=False)  # never in a repr, a log line or a traceback
    realm: str | None = None
    transport: str = "udp"
    expires: int = 3600
    # The registrar we register with *now* when it is not `registrar` (a fail-over registrar,
    # host[:port] or sip: URI). It is also the outbound proxy for calls (RFC 3261 §8.1.2). The
    # identity (address of record, `name`) keeps `registrar`'s domain wherever we register.
    proxy: str | None = None
    # Give up on a REGISTER still unanswered after this many seconds (None: the transaction's
    # own Timer F, 64*T1 = 32 s, RFC 3261 §17.1.2.2), so a phone fails over to its next
    # registrar quickly instead of sitting unreachable.
    register_timeout: float | None = None
    # Subscribe to the account's voicemail summary (RFC 3842) once registered (sip/voicemail.py).
    mwi: bool = False

    @property
    def registrar_uri(self) -> SipUri:
        return _sip_uri(self.registrar, "registrar")

    @property
    def next_hop_uri(self) -> SipUri:
        """Where REGISTERs and out-of-dialog requests go: the current registrar."""
        return _sip_uri(self.proxy, "proxy") if self.proxy else self.registrar_uri

    @property
    def domain(self) -> str:
        return self.registrar_uri.hostport

    @property
    def name(self) -> str:
        return f"{self.user}@{self.domain}"

    @property
    def auth_user(self) -> str:
        return self.user

    @property
    def registrar_addr(self) -> tuple[str, int]:
        """The current registrar's address (`proxy` when set, else `registrar`)."""
        host, port = split_hostport(self.next_hop_uri.hostport)
        return host.strip("[]"), port or (5061 if self.transport.lower() == "tls" else 5060)


def _sip_uri(text: str, what: str) -> SipUri:
    if not text.lower().startswith(("sip:", "sips:")):
        text = f"sip:{text}"
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise SipSyntaxError(f"{what} {text!r} is not a SIP URI")
    return uri


__all__ = ["Account"]
