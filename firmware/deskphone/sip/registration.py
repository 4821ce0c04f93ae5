"""Registration with a registrar (RFC 3261 §10), one `Registration` per account.

Refreshes before expiry, answers 401/407 (§22), follows 423 Interval Too Brief with the
registrar's Min-Expires (§10.2.8), retries after failures, and removes the binding with
Expires: 0 on `stop()`. Given the message builder, the `TransactionStarter` to send with and a
callable to report `RegistrationState` through; the `UserAgent` that owns it routes the events
of its REGISTER transactions back to `on_transaction_event` and drives its timer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from deskphone.sip import events as ev
from deskphone.sip.account import Account
from deskphone.sip.builder import MessageBuilder
from deskphone.sip.digest import authorization_value, choose_challenge
from deskphone.sip.message import SipRequest, SipResponse, parse_delta_seconds
from deskphone.sip.table import TransactionStarter
from deskphone.sip.transaction import (
    ResponseReceived,
    Transaction,
    TransactionEvent,
    TransactionTimedOut,
)
from deskphone.sip.uri import SipSyntaxError, SipUri

# The failure reason when the registrar's host name does not resolve (shown on the idle screen).
REGISTRAR_NOT_FOUND = "Registrar not found"
RETRY_AFTER_FAILURE = 60.0  # seconds before trying a failed registration again
MAX_AUTH_ATTEMPTS = 2
# CSeq numbers set aside on each change of registrar for removing the binding left behind (see
# `Registration.remove_binding_at`): one request plus one per digest challenge.
LEAVE_CSEQ_RESERVE = 1 + MAX_AUTH_ATTEMPTS


class Registration:
    def __init__(self, account: Account, builder: MessageBuilder,
                 transactions: TransactionStarter, emit: Callable[[ev.Event], None]):
        self.builder = builder
        self.transactions = transactions
        self._emit = emit
        self.account = account
        self.state = "idle"
        # RFC 3261 §10.2: one Call-ID per registrar binding, from the privacy policy.
        self.call_id = builder.privacy.new_call_id(builder.config.local_host)
        self.local_tag = builder.privacy.new_tag()
        self.cseq = 0
        self.expires = account.expires
        self.transaction: Transaction | None = None
        self.refresh_at: float | None = None
        self.auth_attempts = 0
        self.answered_realm: str | None = None  # the realm of the credentials last sent
        self.granted = 0
        self.requested = self.expires
        # None: a failed registration waits for the owner (a fail-over policy) to restart it.
        self.retry_after_failure: float | None = RETRY_AFTER_FAILURE
        self.give_up_at: float | None = None  # Account.register_timeout for the open REGISTER
        self.leave_cseq: int | None = None  # first CSeq set aside for remove_binding_at
        self.leaving: dict[int, tuple[Transaction, str, int]] = {}  # id → (tx, registrar, tries)
        # The public (address, port) our last successful REGISTER came from, as the registrar
        # reported it (RFC 3581 received/rport): what `flow.FlowChecks` compares against.
        self.flow_address: tuple[str, int] | None = None
        # The Contact our last successful REGISTER bound. When our address changes it is stale:
        # the next REGISTER removes it (its own expires=0, RFC 3261 §10.2.1.1) beside the new
        # one, so that the registrar stops forking calls to an address we no longer have.
        self.bound_contact: str | None = None

    @property
    def current_registrar(self) -> str:
        return self.account.proxy or self.account.registrar

    def get_timer(self) -> float | None:
        present = [t for t in (self.refresh_at, self.give_up_at) if t is not None]
        return min(present) if present else None

    def start(self, now: float) -> None:
        self.state = "registering"
        self._send(now, self.expires)

    def stop(self, now: float) -> None:
        self.refresh_at = None
        if self.state in ("registered", "registering"):
            self.state = "unregistering"
            self._send(now, 0)

    def register_again(self, now: float) -> None:
        """The flow broke (RFC 5626 §4.4.2): refresh the binding now, through the flow as it is
        now, rather than at `refresh_at`."""
        if self.state == "registered":
            self.state = "registering"
            self.refresh_at = None
            self._send(now, self.expires)

    def switch_registrar(self, account: Account, now: float) -> None:
        """Register with `account.proxy` from now on (same Call-ID: RFC 3261 §10.2 asks one
        Call-ID per boot cycle). Numbers are set aside so that the binding left at the previous
        registrar can be removed with a CSeq *older* than the REGISTER that just succeeded: a
        registrar sharing one location table (a DMQ cluster) then refuses the removal as out of
        order (RFC 3261 §10.3 step 7) instead of deleting the fresh binding, while an independent
        registrar, which last saw an older CSeq, removes it."""
        if self.transaction is not None:
            self.transactions.abandon(self.transaction)
            self.transaction = None
        self.account = account
        self.leave_cseq = self.cseq + 1
        self.cseq += LEAVE_CSEQ_RESERVE
        self.refresh_at = None
        self.give_up_at = None
        self.auth_attempts = 0
        self.start(now)

    def remove_binding_at(self, registrar: str, now: float) -> None:
        """REGISTER Expires: 0 for our Contact at a registrar we left (RFC 3261 §10.2.2)."""
        if self.leave_cseq is None:
            return
        self._send_leave(registrar, self.leave_cseq, None, now)

    def _send_leave(self, registrar: str, cseq: int, authorization: tuple[str, str] | None,
                    now: float) -> None:
        target = Account(registrar=self.account.registrar, user=self.account.user,
                         password=self.account.password, realm=self.account.realm,
                         transport=self.account.transport, proxy=registrar)
        request = self._build(target, cseq, 0, authorization)
        transaction = self.transactions.start_client(request, target.registrar_addr, now)
        self.leaving[id(transaction)] = (transaction, registrar, cseq)

    def handle_timer(self, now: float) -> None:
        if self.give_up_at is not None and self.give_up_at <= now:
            self.give_up_at = None
            if self.transaction is not None:
                self.transactions.abandon(self.transaction)
                self.transaction = None
                self._fail(now, "timeout", None)
        if self.refresh_at is not None and self.refresh_at <= now:
            self.refresh_at = None
            if self.state in ("registered", "failed", "registering"):
                self.state = "registering"
                self._send(now, self.expires)

    def transport_error(self, addr: tuple[str, int], now: float, *,
                        unresolved: bool = False) -> None:
        if addr == self.account.registrar_addr and self.state in ("registering", "unregistering"):
            if self.transaction is not None:
                self.transactions.abandon(self.transaction)
                self.transaction = None
            # A name that does not resolve: the person must see which (DNS or a typo to fix).
            reason = f"{REGISTRAR_NOT_FOUND}: {addr[0]}" if unresolved else "unreachable"
            self._fail(now, reason, None)

    def _build(self, account: Account, cseq: int, expires: int,
               authorization: tuple[str, str] | None) -> SipRequest:
        # §10.2: the Request-URI names the registrar we register with; To/From carry the address
        # of record, whose domain stays the account's own whichever registrar serves it.
        uri = account.next_hop_uri
        aor = f"<sip:{account.user}@{account.domain}>"
        request = SipRequest(method="REGISTER", uri=SipUri(uri.scheme, uri.host, port=uri.port))
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"{aor};tag={self.local_tag}")
        request.headers.add("To", aor)
        request.headers.add("Call-ID", self.call_id)
        request.headers.add("CSeq", f"{cseq} REGISTER")
        self.builder.add_contact(request)
        request.headers.add("Expires", str(expires))
        if authorization is not None:
            request.headers.add(*authorization)
        return request

    def _send(self, now: float, expires: int, authorization: tuple[str, str] | None = None) -> None:
        self.cseq += 1
        request = self._build(self.account, self.cseq, expires, authorization)
        contact = request.headers.get("Contact")
        if expires > 0 and self.bound_contact not in (None, contact):
            request.headers.add("Contact", f"{self.bound_contact};expires=0")
        self.requested = expires
        self.transaction = self.transactions.start_client(request, self.account.registrar_addr, now)
        timeout = self.account.register_timeout
        self.give_up_at = None if timeout is None else now + timeout

    def _leave_event(self, transaction: Transaction, event: TransactionEvent,
                     now: float) -> None:
        """The removal at a left registrar: answer one challenge, otherwise let it go."""
        _, registrar, cseq = self.leaving[id(transaction)]
        if not isinstance(event, ResponseReceived) or event.response.status < 200:
            if isinstance(event, TransactionTimedOut):
                self.leaving.pop(id(transaction), None)
            return
        payload = event.response
        self.leaving.pop(id(transaction), None)
        status = payload.status
        assert self.leave_cseq is not None
        if status in (401, 407) and cseq + 1 < self.leave_cseq + LEAVE_CSEQ_RESERVE:
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            challenge = choose_challenge(payload.headers.raw(header), self._realms())
            if challenge is None:
                return
            value = authorization_value(
                challenge, username=self.account.auth_user, password=self.account.password,
                method="REGISTER", uri=str(transaction.request.uri), nc=1,
                cnonce=secrets.token_hex(8))
            answer = "Authorization" if status == 401 else "Proxy-Authorization"
            self._send_leave(registrar, cseq + 1, (answer, value), now)

    def on_transaction_event(
        self, transaction: Transaction, event: TransactionEvent, now: float
    ) -> None:
        if id(transaction) in self.leaving and self.leaving[id(transaction)][0] is transaction:
            self._leave_event(transaction, event, now)
            return
        if transaction is not self.transaction:
            return
        if isinstance(event, TransactionTimedOut):
            self.give_up_at = None
            self._fail(now, "timeout", None)
            return
        if not isinstance(event, ResponseReceived) or event.response.status < 200:
            return
        response = event.response
        status = response.status
        self.give_up_at = None
        if status < 300:
            self.auth_attempts = 0
            if self.answered_realm is not None:
                # Our registrar took these credentials: calls may answer this realm too.
                self.builder.realms.learn(self.account.name, self.answered_realm)
            if self.requested == 0:
                self.state = "unregistered"
                self._emit(
                    ev.RegistrationState(self.account.name, "unregistered", 0, "OK", status,
                                         self.current_registrar)
                )
                return
            granted = self._granted_expires(response)
            self.bound_contact = transaction.request.headers.get("Contact")
            self.state = "registered"
            self.flow_address = mapped_address(response)
            self.granted = granted
            # Refresh early: half-way for short bindings, 30 s before expiry for long ones.
            self.refresh_at = now + max(1.0, granted - min(30.0, granted / 2))
            self._emit(
                ev.RegistrationState(self.account.name, "registered", granted, response.reason,
                                     status, self.current_registrar)
            )
        elif status in (401, 407) and self.auth_attempts < MAX_AUTH_ATTEMPTS:
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            challenge = choose_challenge(response.headers.raw(header), self._realms())
            if challenge is None:
                self._fail(now, f"{status} {response.reason} (no usable challenge)", status)
                return
            self.answered_realm = challenge.realm
            self.auth_attempts += 1
            self.builder.stats.auth_retries += 1
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
                self._fail(now, "423 without a usable Min-Expires", status)
                return
            if minimum <= self.requested:
                self._fail(now, f"423 with Min-Expires {minimum} not above {self.requested}",
                           status)
                return
            self.expires = minimum
            self._send(now, minimum)
        else:
            self._fail(now, f"{status} {response.reason}", status, _retry_after(response))

    def _realms(self) -> frozenset[str] | None:
        """A REGISTER answers its registrar: the configured realm only, when there is one."""
        return frozenset((self.account.realm,)) if self.account.realm else None

    def _granted_expires(self, response: SipResponse) -> int:
        """§10.2.4: our Contact's expires parameter, else Expires, else what we asked for."""
        ours = f"{self.builder.config.local_host}:{self.builder.config.local_port}".lower()
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

    def _fail(self, now: float, reason: str, code: int | None,
              retry_after: float | None = None) -> None:
        self.give_up_at = None
        if self.state == "unregistering":
            self.state = "unregistered"
            self._emit(
                ev.RegistrationState(self.account.name, "unregistered", 0, reason, code,
                                     self.current_registrar)
            )
            return
        self.state = "failed"
        self.auth_attempts = 0
        retry = self.retry_after_failure
        self.refresh_at = None if retry is None else now + retry
        self._emit(ev.RegistrationState(
            self.account.name, "failed", 0, reason, code, self.current_registrar, retry_after))


def mapped_address(response: SipResponse) -> tuple[str, int] | None:
    """The public (address, port) the peer saw our request come from, from the top Via's
    received= and rport= (RFC 3581 §4); None when it does not report the port."""
    try:
        top = response.top_via
    except (SipSyntaxError, ValueError, IndexError):
        return None
    rport = top.param("rport")
    if not rport or not rport.isdigit():
        return None
    return (top.param("received") or top.host, int(rport))


def _retry_after(response: SipResponse) -> float | None:
    """RFC 3261 §20.33 Retry-After: delta-seconds, optionally followed by a comment."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(parse_delta_seconds(value.split("(")[0].split(";")[0].strip(),
                                         "Retry-After"))
    except SipSyntaxError:
        return None


__all__ = ["Account", "Registration"]
