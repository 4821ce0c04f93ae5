"""The voicemail lamp's subscription: message-summary (RFC 3842) over SUBSCRIBE/NOTIFY
(RFC 6665), one per account that asks for it, sans-IO like the rest of the user agent.

`MwiSubscription` sends SUBSCRIBE (Event: message-summary, Accept:
application/simple-message-summary) to the account's registrar once the account first
registers, answers a digest challenge (RFC 3261 §22), refreshes before the granted Expires runs
out (RFC 6665 §4.1.2.1), follows 423 with Min-Expires, and:

* 489 Bad Event — the server has no such package: not asked again (§4.1.2.1);
* 403 / 404 — refused, no such mailbox: asked again only after RETRY_REFUSED;
* any other failure or no answer: asked again after RETRY_AFTER_FAILURE;
* a NOTIFY saying `Subscription-State: terminated` (§4.1.3) starts a new subscription at once
  (or after its retry-after), unless its reason says not to (rejected, noresource, invariant).

A NOTIFY in the subscription's dialog (our Call-ID and From tag as its To tag) is answered 200
and its body reported (`MessageWaiting`). Servers that send unsolicited NOTIFYs (no
subscription, RFC 3842 §4 deployments) are heard too, but only from the account's registrar
address: anyone else gets 481 Subscription Does Not Exist (§4.1.3) and lights nothing. A body
that RFC 3842 §5.2 does not allow gets 400 and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from deskphone.sip import events as ev
from deskphone.sip.account import Account
from deskphone.sip.builder import MessageBuilder
from deskphone.sip.digest import authorization_value, choose_challenge
from deskphone.sip.message import SipRequest, SipResponse, parse_delta_seconds
from deskphone.sip.message_summary import MessageSummaryError, parse_message_summary
from deskphone.sip.table import TransactionStarter
from deskphone.sip.transaction import (
    ResponseReceived,
    ServerTransaction,
    Transaction,
    TransactionEvent,
    TransactionTimedOut,
)
from deskphone.sip.uri import SipSyntaxError, SipUri

EVENT = "message-summary"
ACCEPT = "application/simple-message-summary"
EXPIRES = 3600
RETRY_AFTER_FAILURE = 300.0
RETRY_REFUSED = 3600.0
MAX_AUTH_ATTEMPTS = 2
_NO_RETRY_REASONS = frozenset({"rejected", "noresource", "invariant"})  # RFC 6665 §4.1.3

Addr = tuple[str, int]


class MwiSubscription:
    def __init__(self, account: Account, builder: MessageBuilder,
                 transactions: TransactionStarter, emit: Callable[[ev.Event], None]) -> None:
        self.account = account
        self.builder = builder
        self.transactions = transactions
        self._emit = emit
        self.state = "idle"  # idle | subscribing | active | unsupported | refused | failed
        self.transaction: Transaction | None = None
        self.retry_at: float | None = None  # subscribe again (a refresh, or after a failure)
        self.expires = EXPIRES
        self.auth_attempts = 0
        self._new_dialog()

    def _new_dialog(self) -> None:
        self.call_id = self.builder.privacy.new_call_id(self.builder.config.local_host)
        self.local_tag = self.builder.privacy.new_tag()
        self.remote_tag: str | None = None
        self.cseq = 0

    def get_timer(self) -> float | None:
        return self.retry_at

    def start(self, now: float) -> None:
        if self.state == "idle":
            self._send(now)

    def handle_timer(self, now: float) -> None:
        if self.retry_at is not None and self.retry_at <= now:
            self.retry_at = None
            self._send(now)

    def _send(self, now: float, authorization: tuple[str, str] | None = None) -> None:
        self.state = "subscribing" if self.state != "active" else "active"
        self.cseq += 1
        aor = f"sip:{self.account.user}@{self.account.domain}"
        registrar = self.account.registrar_uri  # RFC 3842 §4: the account's own address
        uri = SipUri(registrar.scheme, registrar.host, user=self.account.user,
                     port=registrar.port)
        request = SipRequest(method="SUBSCRIBE", uri=uri)
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"<{aor}>;tag={self.local_tag}")
        to_tag = f";tag={self.remote_tag}" if self.remote_tag else ""
        request.headers.add("To", f"<{aor}>{to_tag}")
        request.headers.add("Call-ID", self.call_id)
        request.headers.add("CSeq", f"{self.cseq} SUBSCRIBE")
        self.builder.add_contact(request)
        request.headers.add("Event", EVENT)
        request.headers.add("Accept", ACCEPT)
        request.headers.add("Expires", str(self.expires))
        if authorization is not None:
            request.headers.add(*authorization)
        self.transaction = self.transactions.start_client(request, self.account.registrar_addr,
                                                          now)

    def owns(self, transaction: Transaction) -> bool:
        return transaction is self.transaction

    def on_transaction_event(self, transaction: Transaction, event: TransactionEvent,
                             now: float) -> None:
        if transaction is not self.transaction:
            return
        if isinstance(event, TransactionTimedOut):
            self._failed(now, RETRY_AFTER_FAILURE)
            return
        if not isinstance(event, ResponseReceived) or event.response.status < 200:
            return
        response = event.response
        status = response.status
        if status < 300:
            self.auth_attempts = 0
            self.state = "active"
            self.remote_tag = response.to.tag or self.remote_tag
            granted = _expires(response, self.expires)
            # Refresh early: half-way for short subscriptions, a minute before for long ones.
            self.retry_at = now + max(1.0, granted - min(60.0, granted / 2))
        elif status in (401, 407) and self.auth_attempts < MAX_AUTH_ATTEMPTS:
            self._answer_challenge(transaction, response, now)
        elif status == 423:
            minimum = response.headers.get("Min-Expires")
            try:
                self.expires = max(self.expires, parse_delta_seconds(minimum or "", "Min-Expires"))
            except SipSyntaxError:
                self._failed(now, RETRY_AFTER_FAILURE)
                return
            self._send(now)
        elif status == 489:
            self.state, self.retry_at, self.transaction = "unsupported", None, None
        elif status in (403, 404):
            self._failed(now, RETRY_REFUSED, state="refused")
        else:
            self._failed(now, RETRY_AFTER_FAILURE)

    def _answer_challenge(self, transaction: Transaction, response: SipResponse,
                          now: float) -> None:
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        realms = frozenset((self.account.realm,)) if self.account.realm else None
        challenge = choose_challenge(response.headers.raw(header), realms)
        if challenge is None:
            self._failed(now, RETRY_AFTER_FAILURE)
            return
        self.auth_attempts += 1
        value = authorization_value(
            challenge, username=self.account.auth_user, password=self.account.password,
            method="SUBSCRIBE", uri=str(transaction.request.uri), nc=1,
            cnonce=secrets.token_hex(8))
        self._send(now, ("Authorization" if response.status == 401 else "Proxy-Authorization",
                         value))

    def _failed(self, now: float, retry: float, state: str = "failed") -> None:
        self.state, self.transaction = state, None
        self.retry_at = now + retry
        self._new_dialog()

    # -- NOTIFY ------------------------------------------------------------------------------

    def in_dialog(self, request: SipRequest) -> bool:
        return request.call_id == self.call_id and request.to.tag == self.local_tag

    def from_server(self, addr: Addr) -> bool:
        return addr == self.account.registrar_addr

    def notified(self, request: SipRequest, now: float) -> int:
        """A NOTIFY for this account (in our dialog, or unsolicited from the server): the status
        to answer with, the summary reported when it is one."""
        event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if event != EVENT:
            return 489  # RFC 6665 §8.2.2 Bad Event
        try:
            summary = parse_message_summary(request.body)
        except MessageSummaryError:
            return 400
        if self.in_dialog(request):
            if self.remote_tag is None:
                self.remote_tag = request.from_.tag  # the NOTIFY may overtake the 200
            self._subscription_state(request.headers.get("Subscription-State") or "", now)
        self._emit(ev.MessageWaiting(self.account.name, summary.waiting, summary.voice_new,
                                     summary.voice_old))
        return 200

    def _subscription_state(self, value: str, now: float) -> None:
        state, *params = [part.strip().lower() for part in value.split(";")]
        if state != "terminated":
            return
        named = dict(p.split("=", 1) for p in params if "=" in p)
        self._new_dialog()
        self.transaction = None
        if named.get("reason") in _NO_RETRY_REASONS:
            self.state, self.retry_at = "refused", None
            return
        retry = named.get("retry-after", "")
        self.state = "idle"
        self.retry_at = now + (min(float(retry), RETRY_REFUSED) if retry.isdigit() else 0.0)


def _expires(response: SipResponse, asked: int) -> int:
    try:
        header = response.headers.get("Expires")
        return parse_delta_seconds(header, "Expires") if header is not None else asked
    except SipSyntaxError:
        return asked


class VoicemailSubscriptions:
    """Every account's MwiSubscription, as the user agent drives them."""

    def __init__(self, accounts: tuple[Account, ...], builder: MessageBuilder,
                 transactions: TransactionStarter, emit: Callable[[ev.Event], None]) -> None:
        self.builder = builder
        self.by_account = {a.name: MwiSubscription(a, builder, transactions, emit)
                           for a in accounts if a.mwi}

    def get_timer(self) -> float | None:
        return min((t for s in self.by_account.values() if (t := s.get_timer()) is not None),
                   default=None)

    def handle_timer(self, now: float) -> None:
        for subscription in self.by_account.values():
            subscription.handle_timer(now)

    def start(self, account: str, now: float) -> None:
        """`account` registered: its subscription starts (once; refreshes run on their own)."""
        subscription = self.by_account.get(account)
        if subscription is not None:
            subscription.start(now)

    def owns(self, transaction: Transaction) -> MwiSubscription | None:
        return next((s for s in self.by_account.values() if s.owns(transaction)), None)

    def receive_notify(self, request: SipRequest, transaction: ServerTransaction, addr: Addr,
                       now: float) -> bool:
        """A NOTIFY: True when it was ours to answer (a message-summary one, or one that claims
        to be: unsolicited from a stranger is refused with 481)."""
        event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        mine = next((s for s in self.by_account.values() if s.in_dialog(request)), None)
        if mine is None and event != EVENT:
            return False  # a transfer's NOTIFY (RFC 3515) or another package: not ours
        if mine is None and not request.to.tag:
            mine = next((s for s in self.by_account.values() if s.from_server(addr)), None)
        status = 481 if mine is None else mine.notified(request, now)
        response = self.builder.response(request, status,
                                         to_tag=None if request.to.tag else
                                         self.builder.privacy.new_tag())
        transaction.send_response(response, now)
        return True
