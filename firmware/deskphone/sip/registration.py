"""Registration with a registrar (RFC 3261 §10), one `Registration` per account.

Refreshes before expiry, answers 401/407 (§22), follows 423 Interval Too Brief with the
registrar's Min-Expires (§10.2.8), retries after failures, and removes the binding with
Expires: 0 on `stop()`. Driven by the `UserAgent` that owns it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deskphone.sip import events as ev
from deskphone.sip.digest import authorization_value, choose_challenge
from deskphone.sip.message import SipRequest, SipResponse, parse_delta_seconds
from deskphone.sip.uri import SipSyntaxError, SipUri, parse_uri, split_hostport

if TYPE_CHECKING:
    from deskphone.sip.transaction import Transaction
    from deskphone.sip.useragent import UserAgent

RETRY_AFTER_FAILURE = 60.0  # seconds before trying a failed registration again
MAX_AUTH_ATTEMPTS = 2


@dataclass(frozen=True)
class Account:
    registrar: str  # host[:port] or a sip: URI
    user: str
    password: str
    realm: str | None = None
    transport: str = "udp"
    expires: int = 3600

    @property
    def registrar_uri(self) -> SipUri:
        text = (
            self.registrar
            if self.registrar.lower().startswith(("sip:", "sips:"))
            else f"sip:{self.registrar}"
        )
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise SipSyntaxError(f"registrar {self.registrar!r} is not a SIP URI")
        return uri

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
        host, port = split_hostport(self.registrar_uri.hostport)
        return host.strip("[]"), port or (5061 if self.transport.lower() == "tls" else 5060)


class Registration:
    def __init__(self, ua: UserAgent, account: Account):
        self.ua = ua
        self.account = account
        self.state = "idle"
        self.call_id = secrets.token_hex(12) + "@" + ua.config.local_host
        self.local_tag = secrets.token_hex(6)
        self.cseq = 0
        self.expires = account.expires
        self.transaction: Transaction | None = None
        self.refresh_at: float | None = None
        self.auth_attempts = 0
        self.granted = 0

    def next_deadline(self) -> float | None:
        return self.refresh_at

    def start(self, now: float) -> None:
        self.state = "registering"
        self._send(now, self.expires)

    def stop(self, now: float) -> None:
        self.refresh_at = None
        if self.state in ("registered", "registering"):
            self.state = "unregistering"
            self._send(now, 0)

    def handle_timer(self, now: float) -> None:
        if self.refresh_at is not None and self.refresh_at <= now:
            self.refresh_at = None
            if self.state in ("registered", "failed", "registering"):
                self.state = "registering"
                self._send(now, self.expires)

    def transport_error(self, addr: tuple[str, int], now: float) -> None:
        if addr == self.account.registrar_addr and self.state in ("registering", "unregistering"):
            self._fail(now, "unreachable")

    def _send(self, now: float, expires: int, authorization: tuple[str, str] | None = None) -> None:
        ua = self.ua
        self.cseq += 1
        uri = self.account.registrar_uri
        aor = f"<sip:{self.account.user}@{self.account.domain}>"
        request = SipRequest(method="REGISTER", uri=SipUri(uri.scheme, uri.host, port=uri.port))
        ua._add_via(request)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"{aor};tag={self.local_tag}")
        request.headers.add("To", aor)
        request.headers.add("Call-ID", self.call_id)
        request.headers.add("CSeq", f"{self.cseq} REGISTER")
        ua._add_contact(request)
        request.headers.add("Expires", str(expires))
        if authorization is not None:
            request.headers.add(*authorization)
        self.requested = expires
        self.transaction = ua._start_client(request, self.account.registrar_addr, now)

    def on_transaction_event(
        self, transaction: Transaction, kind: str, payload: object, now: float
    ) -> None:
        if transaction is not self.transaction:
            return
        if kind == "timeout":
            self._fail(now, "timeout")
            return
        if not isinstance(payload, SipResponse) or payload.status < 200:
            return
        response = payload
        status = response.status
        if status < 300:
            self.auth_attempts = 0
            if self.requested == 0:
                self.state = "unregistered"
                self.ua._events.append(
                    ev.RegistrationState(self.account.name, "unregistered", 0, "OK")
                )
                return
            granted = self._granted_expires(response)
            self.state = "registered"
            self.granted = granted
            # Refresh early: half-way for short bindings, 30 s before expiry for long ones.
            self.refresh_at = now + max(1.0, granted - min(30.0, granted / 2))
            self.ua._events.append(
                ev.RegistrationState(self.account.name, "registered", granted, response.reason)
            )
        elif status in (401, 407) and self.auth_attempts < MAX_AUTH_ATTEMPTS:
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            challenge = choose_challenge(response.headers.raw(header))
            if challenge is None or (self.account.realm and challenge.realm != self.account.realm):
                self._fail(now, f"{status} {response.reason} (no usable challenge)")
                return
            self.auth_attempts += 1
            self.ua.stats.auth_retries += 1
            uri = str(self.transaction.request.uri)
            value = authorization_value(
                challenge,
                username=self.account.auth_user,
                password=self.account.password,
                method="REGISTER",
                uri=uri,
                nc=1,
                cnonce=secrets.token_hex(8),
            )
            self._send(
                now,
                self.requested,
                ("Authorization" if status == 401 else "Proxy-Authorization", value),
            )
        elif status == 423:  # §10.2.8 Interval Too Brief
            try:
                minimum = parse_delta_seconds(
                    response.headers.get("Min-Expires") or "", "Min-Expires"
                )
            except SipSyntaxError:
                self._fail(now, "423 without a usable Min-Expires")
                return
            if minimum <= self.requested:
                self._fail(now, f"423 with Min-Expires {minimum} not above {self.requested}")
                return
            self.expires = minimum
            self._send(now, minimum)
        else:
            self._fail(now, f"{status} {response.reason}")

    def _granted_expires(self, response: SipResponse) -> int:
        """§10.2.4: our Contact's expires parameter, else Expires, else what we asked for."""
        ours = f"{self.ua.config.local_host}:{self.ua.config.local_port}".lower()
        try:
            for contact in response.contacts:
                if isinstance(contact.uri, SipUri) and contact.uri.hostport.lower() == ours:
                    value = contact.param("expires")
                    if value:
                        return parse_delta_seconds(value, "Contact expires")
            header = response.headers.get("Expires")
            if header is not None:
                return parse_delta_seconds(header, "Expires")
        except SipSyntaxError:
            pass
        return self.requested

    def _fail(self, now: float, reason: str) -> None:
        if self.state == "unregistering":
            self.state = "unregistered"
            self.ua._events.append(
                ev.RegistrationState(self.account.name, "unregistered", 0, reason)
            )
            return
        self.state = "failed"
        self.auth_attempts = 0
        self.refresh_at = now + RETRY_AFTER_FAILURE
        self.ua._events.append(ev.RegistrationState(self.account.name, "failed", 0, reason))
