"""The SIP user agent core (RFC 3261 §8, §12-§15, §22), sans-IO in the aioquic shape.

Bytes, addresses and `now` go in (`receive_datagram`), bytes and addresses come out
(`datagrams_to_send`), the core says when it wants to be woken (`get_timer`/`handle_timer`) and
reports what happened as events (`next_event`). Commands (`invite`, `answer`, `hangup`...) are
plain methods. The core never opens a socket, reads a clock or resolves a name: hosts in URIs
are used as given and resolution belongs to the transport.

Registration lives in `registration.py`; this module holds the calls.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace

from deskphone.routing.privacy import PrivacyPolicy
from deskphone.sip import events as ev
from deskphone.sip.dialog import Dialog
from deskphone.sip.digest import authorization_value, choose_challenge
from deskphone.sip.message import (
    MAGIC_COOKIE,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
)
from deskphone.sip.refer import (
    SIPFRAG,
    SUBSCRIPTION_SECONDS,
    ReferError,
    parse_refer_notify,
    refer_target,
    sipfrag,
    subscription_state,
)
from deskphone.sip.registration import Account, Registration
from deskphone.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    transaction_key,
)
from deskphone.sip.uri import (
    NameAddress,
    SipSyntaxError,
    SipUri,
    Uri,
    parse_uri,
    quote,
)

Addr = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO"
SUPPORTED_EXTENSIONS: frozenset[str] = (
    frozenset()
)  # we require nothing and implement no option tags
REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}


DIRECT = "direct"  # `invite(..., account=DIRECT)`: no account, the request goes to the target


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


@dataclass
class UaStats:
    malformed_answered: int = 0
    malformed_dropped: int = 0
    responses_unmatched: int = 0
    requests_unmatched: int = 0
    retransmissions_absorbed: int = 0
    auth_retries: int = 0


@dataclass
class Call:
    call_id: str
    role: str  # "uac" | "uas"
    invite: SipRequest
    addr: Addr
    account: Account | None = None
    state: str = "calling"  # calling, early, answered, confirmed, ended
    dialog: Dialog | None = None
    local_tag: str = ""
    invite_tx: Transaction | None = None
    auth_attempts: int = 0
    redirects: int = 0
    cancel_pending: bool = False
    got_provisional: bool = False
    ack: bytes | None = None
    reinvite_tx: ClientTransaction | None = None
    reinvite_sdp: bytes | None = None
    reinvite_retry_at: float | None = None
    reoffer_tx: ServerTransaction | None = None
    ended: bool = False
    acks: dict[int, bytes] = field(default_factory=dict)  # CSeq -> ACK for its 2xx
    tried_targets: list[str] = field(default_factory=list)  # Request-URIs sent (3xx loops)
    alternates: list[Uri] = field(default_factory=list)  # §8.1.3.4: contacts still to try
    # RFC 3515 transferee: the CSeq of the REFER we accepted (its subscription's id), until the
    # final NOTIFY; transferor: the REFER we sent, and when its subscription lapses.
    refer_received: int | None = None
    refer_sent: bool = False
    refer_deadline: float | None = None


def end_reason(code: int) -> str:
    """Map a final failure response to a CallEnded reason (see events.CALL_END_REASONS)."""
    if code in (486, 600):
        return "busy"
    if code == 603:
        return "declined"
    if code in (404, 480, 604):
        return "unreachable"
    if code == 408:
        return "timeout"
    if code == 487:
        return "cancelled"
    return "failed"


class UserAgent:
    def __init__(self, config: UaConfig):
        self.config = config
        self.timers = TimerConfig(config.t1, config.t2, config.t4)
        self.reliable = config.transport.lower() != "udp"
        self.stats = UaStats()
        self.calls: dict[str, Call] = {}
        self.transactions: dict[tuple[str, str, str], Transaction] = {}
        self.registrations = {
            account.name: Registration(self, account) for account in config.accounts
        }
        # RFC 3261 §11 OPTIONS probes (`probe`): Call-ID → (target, give-up time or None).
        self.probes: dict[str, tuple[str, float | None]] = {}
        self._outbox: list[tuple[bytes, Addr]] = []
        self._events: deque[ev.Event] = deque()
        self._rng = random.Random(config.seed if config.seed is not None else secrets.randbits(64))
        self.privacy = PrivacyPolicy(enabled=config.privacy, user_agent=config.user_agent or "")
        for registration in self.registrations.values():
            # RFC 3261 §10.2: one Call-ID per registrar binding, from the privacy policy.
            registration.call_id = self.privacy.new_call_id(config.local_host)
            registration.local_tag = self.privacy.new_tag()

    # -- the sans-IO surface -------------------------------------------------------------------
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        for transaction in self.transactions.values():
            self._outbox.extend(transaction.outbox)
            transaction.outbox.clear()
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = [t.next_deadline() for t in self.transactions.values()]
        deadlines += [r.next_deadline() for r in self.registrations.values()]
        deadlines += [deadline for _, deadline in self.probes.values()]
        deadlines += [c.reinvite_retry_at for c in self.calls.values()]
        deadlines += [c.refer_deadline for c in self.calls.values()]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> None:
        for transaction in list(self.transactions.values()):
            transaction.handle_timer(now)
        self._collect(now)
        for registration in self.registrations.values():
            registration.handle_timer(now)
        for call_id, (_target, deadline) in list(self.probes.items()):
            if deadline is not None and deadline <= now:
                self._probe_done(call_id, None)
        for call in list(self.calls.values()):
            if call.reinvite_retry_at is not None and call.reinvite_retry_at <= now:
                call.reinvite_retry_at = None
                if call.reinvite_sdp is not None and not call.ended:
                    self._send_reinvite(call, call.reinvite_sdp, now)
            if call.refer_deadline is not None and call.refer_deadline <= now:
                # RFC 6665 §4.1.2.4: no NOTIFY before the subscription expired: it is over.
                call.refer_deadline = None
                if call.refer_sent:
                    call.refer_sent = False
                    self._events.append(ev.TransferFailed(call.call_id, 408))
        self._collect(now)

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        try:
            message = parse_message(data, datagram=not self.reliable)
        except SipParseError as error:
            self._answer_malformed(error, addr)
            return
        except (SipSyntaxError, ValueError, IndexError):
            self.stats.malformed_dropped += 1
            return
        try:
            if isinstance(message, SipRequest):
                self._receive_request(message, addr, now)
            elif isinstance(message, SipResponse):
                self._receive_response(message, now)
        except (SipSyntaxError, ValueError, IndexError):
            # A header we only parse lazily was bad: the message is dropped and counted.
            self.stats.malformed_dropped += 1
        self._collect(now)

    def transport_error(self, addr: Addr, now: float) -> None:
        """The transport could not reach addr (ICMP, refused TCP, TLS failure): §8.1.3.1."""
        for call in list(self.calls.values()):
            if call.state in ("calling", "early") and call.role == "uac" and call.addr == addr:
                self._end_call(call, "unreachable", 503)
        for registration in self.registrations.values():
            registration.transport_error(addr, now)

    # -- registration commands (delegated) -----------------------------------------------------
    def register(self, now: float) -> None:
        for registration in self.registrations.values():
            registration.start(now)
        self._collect(now)

    def unregister(self, now: float) -> None:
        for registration in self.registrations.values():
            registration.stop(now)
        self._collect(now)

    def use_registrar(self, account_name: str, registrar: str, now: float) -> None:
        """Register `account_name` with `registrar` (host[:port] or sip: URI) from now on; it
        is also the outbound proxy of new calls. The address of record does not change."""
        registration = self.registrations.get(account_name)
        if registration is None:
            raise KeyError(f"no account named {account_name!r} (have {list(self.registrations)})")
        account = registration.account
        proxy = None if registrar == account.registrar else registrar
        moved = dataclass_replace(account, proxy=proxy)
        moved.registrar_addr  # noqa: B018 — a bad registrar fails here, before anything changes
        self.config = dataclass_replace(self.config, accounts=tuple(
            moved if a.name == account_name else a for a in self.config.accounts))
        registration.switch_registrar(moved, now)
        self._collect(now)

    def remove_binding_at(self, account_name: str, registrar: str, now: float) -> None:
        """Take our binding off a registrar this account has left (see
        `Registration.switch_registrar` for why a shared location table keeps it)."""
        self.registrations[account_name].remove_binding_at(registrar, now)
        self._collect(now)

    def probe(self, target: str, now: float, timeout: float | None = None) -> str:
        """Send OPTIONS to `target` (host[:port] or sip: URI) to learn whether it is alive
        (RFC 3261 §11); `ProbeResult` follows with the status, or None after `timeout` seconds
        (default: the transaction's Timer F)."""
        text = target if target.lower().startswith(("sip:", "sips:")) else f"sip:{target}"
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise ValueError(f"probe target {target!r} is not a SIP URI")
        call_id = secrets.token_hex(12)
        request = SipRequest(method="OPTIONS", uri=SipUri(uri.scheme, uri.host, port=uri.port))
        self._add_via(request)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"<sip:{self.config.user}@{self.config.local_host}>"
                                    f";tag={secrets.token_hex(6)}")
        request.headers.add("To", f"<{request.uri}>")
        request.headers.add("Call-ID", call_id)
        request.headers.add("CSeq", "1 OPTIONS")
        request.headers.add("Accept", "application/sdp")
        self.probes[call_id] = (target, None if timeout is None else now + timeout)
        self._start_client(request, _uri_addr(request.uri), now)
        self._collect(now)
        return call_id

    def _probe_done(self, call_id: str, code: int | None) -> None:
        probe = self.probes.pop(call_id, None)
        if probe is None:
            return
        for key, transaction in list(self.transactions.items()):
            if transaction.request.call_id == call_id:
                self.transactions.pop(key, None)  # no more retransmissions: we stopped asking
        self._events.append(ev.ProbeResult(call_id, probe[0], code))

    def abandon_transaction(self, transaction: Transaction) -> None:
        """Forget a client transaction its owner gave up on: no more retransmissions, and a
        late response is counted as unmatched."""
        for key, known in list(self.transactions.items()):
            if known is transaction:
                self.transactions.pop(key, None)

    # -- call commands -------------------------------------------------------------------------
    def invite(self, target: str, sdp: bytes, now: float, account: str | None = None) -> str:
        chosen = self._account(account)
        uri = self._target_uri(target, chosen)
        call_id = self.privacy.new_call_id(self.config.local_host)
        local_tag = self.privacy.new_tag()
        request = SipRequest(method="INVITE", uri=uri)
        request.headers.add("From", f"{self._local_identity(chosen)};tag={local_tag}")
        request.headers.add("To", f"<{uri}>")
        request.headers.add("Call-ID", call_id)
        request.headers.add("CSeq", "1 INVITE")
        self._add_body(request, sdp)
        addr = self._destination(uri, chosen)
        call = Call(call_id, "uac", request, addr, chosen, local_tag=local_tag)
        call.tried_targets.append(str(uri))
        self.calls[call_id] = call
        self._send_invite(call, now)
        self._collect(now)
        return call_id

    def ringing(self, call_id: str, now: float) -> None:
        call = self._call(call_id, "uas")
        if call.state in ("calling", "early"):
            call.state = "early"
            self._respond_call(call, 180, now)

    def answer(self, call_id: str, sdp: bytes, now: float) -> None:
        call = self._call(call_id, "uas")
        if call.state not in ("calling", "early"):
            raise CallStateError(f"call {call_id} is {call.state}, cannot answer")
        call.state = "answered"
        call.dialog = Dialog.from_uas(call.invite, call.local_tag)
        self._respond_call(call, 200, now, sdp)
        self._collect(now)

    def reject(self, call_id: str, code: int, now: float) -> None:
        call = self._call(call_id, "uas")
        if not 400 <= code <= 699:
            raise ValueError(f"reject code {code} is not a 4xx-6xx final response")
        if call.state in ("calling", "early"):
            self._respond_call(call, code, now)
            call.state = "ended"
            call.ended = True
        self._collect(now)

    def hangup(self, call_id: str, now: float) -> None:
        call = self.calls.get(call_id)
        if call is None or call.ended:
            return
        if call.role == "uas" and call.state in ("calling", "early"):
            self._respond_call(call, 603, now)  # refusing an offer we never answered
        elif call.role == "uac" and call.state in ("calling", "early"):
            if call.got_provisional:
                self._send_cancel(call, now)
            else:
                call.cancel_pending = True  # §9.1: CANCEL only after a provisional response
                self._end_call(call, "local_hangup", None, keep=True)
                self._collect(now)
                return
        elif call.dialog is not None:
            self._send_in_dialog(call, "BYE", now)
        self._end_call(
            call, "local_hangup", None, keep=call.role == "uac" and call.state != "confirmed"
        )
        self._collect(now)

    def reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        call = self._call(call_id)
        if call.dialog is None or call.state != "confirmed":
            raise CallStateError(
                f"call {call_id} is {call.state}, re-INVITE needs a confirmed dialog"
            )
        call.reinvite_sdp = sdp
        if call.reinvite_tx is None and call.reoffer_tx is None:
            self._send_reinvite(call, sdp, now)
        self._collect(now)

    def answer_reoffer(self, call_id: str, sdp: bytes, now: float) -> None:
        call = self._call(call_id)
        if call.reoffer_tx is None:
            raise CallStateError(f"call {call_id} has no re-INVITE waiting for an answer")
        response = self._response(call.reoffer_tx.request, 200, to_tag=call.local_tag)
        self._add_contact(response)
        self._add_body(response, sdp)
        call.reoffer_tx.send_response(response, now)
        self._collect(now)

    # -- receiving requests --------------------------------------------------------------------
    def _receive_request(self, request: SipRequest, addr: Addr, now: float) -> None:
        self._stamp_received(request, addr)
        reply_addr = self._reply_addr(request, addr)
        key = transaction_key(request)
        existing = self.transactions.get(key)
        if (
            existing is not None
            and isinstance(existing, ServerTransaction)
            and request.method != "CANCEL"
        ):
            existing.receive_request(request, now)
            self.stats.retransmissions_absorbed += request.method != "ACK"
            return
        if request.method == "ACK":
            self._receive_2xx_ack(request, now)
            return
        if request.method == "CANCEL":
            self._receive_cancel(request, reply_addr, now)
            return
        transaction = ServerTransaction(request, reply_addr, self.reliable, self.timers, now)
        self.transactions[key] = transaction
        if request.to.tag:
            self._receive_in_dialog(request, transaction, now)
            return
        method = request.method
        if method == "OPTIONS" and self._reject_if_unsupported(request, transaction, now):
            return  # §8.2.1 method first (405/501 below), then §8.2.2 header inspection
        if method == "INVITE":
            self._receive_invite(request, transaction, reply_addr, now)
        elif method == "OPTIONS":
            response = self._response(request, 200, to_tag=self.privacy.new_tag())
            response.headers.add("Accept", "application/sdp")
            transaction.send_response(response, now)
        elif method in ("REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE"):
            transaction.send_response(
                self._response(request, 405, to_tag=self.privacy.new_tag()), now
            )
        elif method in ("BYE", "REFER", "NOTIFY", "INFO", "PRACK", "UPDATE"):
            transaction.send_response(
                self._response(request, 481, to_tag=self.privacy.new_tag()), now
            )
        else:
            transaction.send_response(
                self._response(request, 501, to_tag=self.privacy.new_tag()), now
            )

    def _reject_if_unsupported(
        self, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> bool:
        """§8.2.2: URI scheme (416), Require (420), Content-Type (415), Accept (406)."""
        tag = self.privacy.new_tag()
        if not isinstance(request.uri, SipUri):
            transaction.send_response(self._response(request, 416, to_tag=tag), now)
            return True
        required = [
            t for t in request.headers.get_all("Require") if t.lower() not in SUPPORTED_EXTENSIONS
        ]
        if required:
            response = self._response(request, 420, to_tag=tag)
            response.headers.add("Unsupported", ", ".join(required))
            transaction.send_response(response, now)
            return True
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if request.body and content_type != "application/sdp":
            response = self._response(request, 415, to_tag=tag)
            response.headers.add("Accept", "application/sdp")
            transaction.send_response(response, now)
            return True
        accepts = [a.split(";")[0].strip().lower() for a in request.headers.get_all("Accept")]
        if (
            request.method == "INVITE"
            and "Accept" in request.headers
            and not any(a in ("application/sdp", "application/*", "*/*") for a in accepts)
        ):
            transaction.send_response(self._response(request, 406, to_tag=tag), now)
            return True
        return False

    def _receive_invite(
        self, request: SipRequest, transaction: ServerTransaction, addr: Addr, now: float
    ) -> None:
        if self._reject_if_unsupported(request, transaction, now):
            return
        if request.call_id in self.calls:  # a forked or looped copy of a call we know (§8.2.2.2)
            transaction.send_response(
                self._response(request, 482, to_tag=self.privacy.new_tag()), now
            )
            return
        transaction.send_response(self._response(request, 100), now)  # §17.2.1
        call = Call(request.call_id, "uas", request, addr, local_tag=self.privacy.new_tag())
        call.invite_tx = transaction
        self.calls[call.call_id] = call
        remote = request.from_
        self._events.append(
            ev.IncomingCall(call.call_id, str(remote.uri), remote.display_name, request.body)
        )

    def _receive_cancel(self, cancel: SipRequest, addr: Addr, now: float) -> None:
        """§9.2: match the INVITE server transaction by branch; 200 the CANCEL, 487 the INVITE."""
        transaction = ServerTransaction(cancel, addr, self.reliable, self.timers, now)
        self.transactions[transaction_key(cancel)] = transaction
        invite_tx = self.transactions.get(transaction_key(cancel, "INVITE"))
        if not isinstance(invite_tx, ServerTransaction):
            transaction.send_response(self._response(cancel, 481), now)
            return
        call = self.calls.get(cancel.call_id)
        tag = call.local_tag if call else None
        transaction.send_response(self._response(cancel, 200, to_tag=tag), now)
        if invite_tx.state == "proceeding" and call is not None and not call.ended:
            invite_tx.send_response(self._response(invite_tx.request, 487, to_tag=tag), now)
            self._end_call(call, "cancelled", 487)

    def _receive_2xx_ack(self, ack: SipRequest, now: float) -> None:
        call = self.calls.get(ack.call_id)
        if call is None or call.dialog is None or ack.from_.tag != call.dialog.remote_tag:
            self.stats.requests_unmatched += 1
            return
        for transaction in (call.invite_tx, call.reoffer_tx):
            if (
                isinstance(transaction, ServerTransaction)
                and transaction.request.cseq.number == ack.cseq.number
            ):
                first = transaction.state == "accepted" and "timer_G2xx" in transaction.timers
                transaction.receive_request(ack, now)
                if transaction is call.reoffer_tx:
                    # §14.2: once ACKed the re-INVITE is no longer pending, so a new one (resume
                    # after hold) is not glare; the transaction itself lives on to absorb copies.
                    call.reoffer_tx = None
                if transaction is call.invite_tx and call.state == "answered" and first:
                    call.state = "confirmed"
                    self._events.append(ev.CallEstablished(call.call_id))
                return
        self.stats.retransmissions_absorbed += 1

    def _receive_in_dialog(
        self, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> None:
        call = self.calls.get(request.call_id)
        dialog = call.dialog if call else None
        if (
            call is None
            or dialog is None
            or request.to.tag != dialog.local_tag
            or (request.from_.tag != dialog.remote_tag)
        ):
            transaction.send_response(self._response(request, 481), now)  # §12.2.2
            return
        if not dialog.accept_remote_cseq(request.cseq.number):
            transaction.send_response(self._response(request, 500), now)
            return
        method = request.method
        if method == "BYE":
            transaction.send_response(self._response(request, 200), now)
            if not call.ended:
                self._end_call(call, "remote_hangup", None)
        elif method == "INVITE":
            if call.reinvite_tx is not None or call.reoffer_tx is not None:  # §14.2 glare
                response = self._response(request, 491)
                response.headers.add("Retry-After", "1")
                transaction.send_response(response, now)
                return
            if self._reject_if_unsupported(request, transaction, now):
                return
            dialog.update_target(request)
            call.reoffer_tx = transaction
            self._events.append(ev.Reoffer(call.call_id, request.body))
        elif method == "REFER":
            self._receive_refer(call, request, transaction, now)
        elif method == "NOTIFY":
            self._receive_notify(call, request, transaction, now)
        elif method in ("OPTIONS", "INFO"):
            transaction.send_response(self._response(request, 200), now)
        else:
            transaction.send_response(self._response(request, 501), now)

    def _receive_refer(
        self, call: Call, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> None:
        """RFC 3515 §2.4.2-§2.4.5: 202, then at once the first NOTIFY (100 Trying)."""
        try:
            target = refer_target(request.headers.get_all("Refer-To"))
        except ReferError as error:
            transaction.send_response(
                self._response(request, error.status, reason=_safe_reason(error.status,
                                                                          error.reason)), now
            )
            return
        if call.ended or call.state != "confirmed":
            transaction.send_response(self._response(request, 481), now)
            return
        if call.refer_received is not None:
            # One transfer at a time: the first one's outcome is still being reported.
            response = self._response(request, 491)
            response.headers.add("Retry-After", "5")
            transaction.send_response(response, now)
            return
        transaction.send_response(self._response(request, 202), now)
        call.refer_received = request.cseq.number
        self._send_refer_notify(call, 100, "Trying", now)
        self._events.append(ev.TransferRequested(call.call_id, str(target)))

    def _receive_notify(
        self, call: Call, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> None:
        """RFC 3515 §2.4.5: the transferee reports the new call's progress as a sipfrag."""
        try:
            notify = parse_refer_notify(
                request.headers.get("Event"),
                request.headers.get("Content-Type"),
                request.headers.get("Subscription-State"),
                request.body,
            )
        except ReferError as error:
            transaction.send_response(
                self._response(request, error.status, reason=_safe_reason(error.status,
                                                                          error.reason)), now
            )
            return
        if not call.refer_sent:  # RFC 6665 §4.1.3: no such subscription
            transaction.send_response(self._response(request, 481), now)
            return
        transaction.send_response(self._response(request, 200), now)
        final = notify.status >= 200 or notify.terminated
        if final:
            call.refer_sent = False
            call.refer_deadline = None
        else:
            call.refer_deadline = now + (notify.expires or SUBSCRIPTION_SECONDS)
        self._events.append(ev.TransferNotify(call.call_id, notify.status, notify.reason, final))

    # -- transfer commands (RFC 3515) ----------------------------------------------------------
    def refer(self, call_id: str, target: str, now: float) -> None:
        """Ask the peer to call `target` (blind transfer): REFER with Refer-To (§2.4.1)."""
        call = self._call(call_id)
        if call.dialog is None or call.state != "confirmed" or call.ended:
            raise CallStateError(f"call {call_id} is {call.state}, REFER needs a confirmed dialog")
        if call.refer_sent:
            raise CallStateError(f"call {call_id} already has a transfer in progress")
        uri = refer_target([f"<{target.strip('<>')}>"])
        request = call.dialog.build_request("REFER")
        self._add_via(request)
        request.headers.add("Max-Forwards", "70")
        self._add_contact(request)
        request.headers.add("Refer-To", f"<{uri}>")
        if not self.privacy.enabled:  # RFC 3892: who asked; left out with privacy
            request.headers.add("Referred-By", call.dialog.local_uri)
        call.refer_sent = True
        call.refer_deadline = now + 64 * self.timers.t1  # until the first NOTIFY (Timer F)
        self._start_client(request, self._dialog_addr(call), now)
        self._collect(now)

    def notify_transfer(self, call_id: str, status: int, reason: str, now: float) -> None:
        """Report the new call's progress to the transferor (RFC 3515 §2.4.5); a final status
        (>= 200) ends the subscription."""
        call = self._call(call_id)
        if call.refer_received is None:
            raise CallStateError(f"call {call_id} has no REFER waiting for a NOTIFY")
        self._send_refer_notify(call, status, reason, now)
        self._collect(now)

    def _send_refer_notify(self, call: Call, status: int, reason: str, now: float) -> None:
        if call.dialog is None or call.refer_received is None:
            return
        request = call.dialog.build_request("NOTIFY")
        self._add_via(request)
        request.headers.add("Max-Forwards", "70")
        self._add_contact(request)  # RFC 6665 §4.2.2: a NOTIFY carries Contact
        # RFC 3515 §2.4.6: id= is the REFER's CSeq, so several REFERs in a dialog stay apart.
        request.headers.add("Event", f"refer;id={call.refer_received}")
        request.headers.add("Subscription-State", subscription_state(status))
        request.body = sipfrag(status, reason)
        request.headers.add("Content-Type", SIPFRAG)
        if status >= 200:
            call.refer_received = None
        self._start_client(request, self._dialog_addr(call), now)

    # -- receiving responses -------------------------------------------------------------------
    def _receive_response(self, response: SipResponse, now: float) -> None:
        via = response.top_via
        if (
            via.host != self.config.local_host.lower()
            or (via.port or 5060) != self.config.local_port
        ):
            self.stats.responses_unmatched += 1  # §18.1.2: not ours
            return
        transaction = self.transactions.get(transaction_key(response))
        if not isinstance(transaction, ClientTransaction):
            self._stray_2xx(response, now)
            return
        before = len(transaction.events)
        transaction.receive_response(response, now)
        if len(transaction.events) == before:
            self.stats.retransmissions_absorbed += 1

    def _stray_2xx(self, response: SipResponse, now: float) -> None:
        """A 2xx retransmission after our INVITE transaction ended: re-send the ACK (§13.2.2.4)."""
        call = self.calls.get(response.call_id)
        if (
            call is not None
            and call.ack is not None
            and response.cseq.method == "INVITE"
            and response.status < 300
        ):
            self._outbox.append((call.ack, call.addr))
            self.stats.retransmissions_absorbed += 1
        else:
            self.stats.responses_unmatched += 1

    def _collect(self, now: float) -> None:
        """Route transaction events to the calls and registrations that own them."""
        for key, transaction in list(self.transactions.items()):
            while transaction.events:
                kind, payload = transaction.events.pop(0)
                self._dispatch(transaction, kind, payload, now)
            self._outbox.extend(transaction.outbox)
            transaction.outbox.clear()
            if transaction.terminated:
                self.transactions.pop(key, None)

    def _dispatch(self, transaction: Transaction, kind: str, payload: object, now: float) -> None:
        request = transaction.request
        if request.method == "OPTIONS" and request.call_id in self.probes:
            if kind == "timeout":
                self._probe_done(request.call_id, None)
            elif isinstance(payload, SipResponse) and payload.status >= 200:
                self._probe_done(request.call_id, payload.status)
            return
        if request.method == "REGISTER":
            for registration in self.registrations.values():
                registration.on_transaction_event(transaction, kind, payload, now)
            return
        call = self.calls.get(request.call_id)
        if call is None:
            return
        if isinstance(transaction, ServerTransaction):
            if kind == "timeout" and transaction is call.invite_tx:
                call.state = "ended"  # §17.2.1 Timer H: our final response was never ACKed
            elif (
                kind == "accepted_done"
                and transaction is call.invite_tx
                and call.state == "answered"
            ):
                self._send_in_dialog(call, "BYE", now)  # §13.3.1.4: no ACK for our 2xx
                self._end_call(call, "timeout", 408)
            elif kind == "accepted_done" and transaction is call.reoffer_tx:
                call.reoffer_tx = None
            return
        response = payload if isinstance(payload, SipResponse) else None
        if (
            request.method == "INVITE"
            and response is not None
            and 200 <= response.status < 300
            and response.cseq.number in call.acks
            and transaction is not call.invite_tx
        ):
            self._outbox.append((call.acks[response.cseq.number], self._dialog_addr(call)))
        elif request.method == "INVITE" and transaction is call.invite_tx:
            self._invite_result(call, response, now)
        elif request.method == "INVITE" and transaction is call.reinvite_tx:
            self._reinvite_result(call, response, now)
        elif (
            response is not None
            and response.status in (401, 407)
            and request.method in ("BYE", "REFER")
            and (retry := self._with_credentials(call, request, response)) is not None
        ):
            self._start_client(retry, transaction.addr, now)
        elif request.method == "REFER" and (response is None or response.status >= 200):
            self._refer_result(call, response)

    def _refer_result(self, call: Call, response: SipResponse | None) -> None:
        """RFC 3515 §2.4.2: 2xx accepts (NOTIFYs follow); anything else, or no answer, fails."""
        if not call.refer_sent:
            return  # the final NOTIFY overtook the 202
        if response is not None and response.status < 300:
            self._events.append(ev.TransferAccepted(call.call_id))
            return
        call.refer_sent = False
        call.refer_deadline = None
        self._events.append(ev.TransferFailed(call.call_id, 408 if response is None
                                              else response.status))

    def _invite_result(self, call: Call, response: SipResponse | None, now: float) -> None:
        if response is None:  # Timer B
            if not call.ended:
                self._end_call(call, "timeout", 408)
            return
        status = response.status
        if status < 200:
            call.got_provisional = True
            if call.cancel_pending:
                call.cancel_pending = False
                self._send_cancel(call, now)
            elif status > 100 and not call.ended:
                call.state = "early"
                self._events.append(
                    ev.CallProgress(call.call_id, status, response.reason, response.body or None)
                )
        elif status < 300:
            if call.dialog is None or call.state != "confirmed":
                call.dialog = Dialog.from_uac(call.invite, response)
                call.state = "confirmed"
                call.ack = self._build_2xx_ack(call).serialize()
                call.acks[call.invite.cseq.number] = call.ack
                self._outbox.append((call.ack, self._dialog_addr(call)))
                if call.ended:  # we hung up while the 200 was in flight (§15)
                    self._send_in_dialog(call, "BYE", now)
                else:
                    self._events.append(ev.CallAnswered(call.call_id, response.body))
            elif call.ack is not None:
                self._outbox.append((call.ack, self._dialog_addr(call)))
        elif status in (401, 407) and not call.ended:
            retry = self._with_credentials(call, call.invite, response)
            if retry is None:
                self._end_call(call, "failed", status)
            else:
                call.invite = retry
                self._send_invite(call, now)
        elif 300 <= status < 400 and not call.ended:
            self._follow_redirect(call, response, now)
        elif not call.ended and call.alternates and call.redirects < self.config.max_redirects:
            self._try_next_target(call, now)  # §8.1.3.4: the next contact of the redirect
        elif not call.ended:
            self._end_call(call, end_reason(status), status)
        elif call.ended and status >= 300:
            self.calls.pop(call.call_id, None)

    def _follow_redirect(self, call: Call, response: SipResponse, now: float) -> None:
        """§8.1.3.4: try the Contacts of a 3xx, highest q first, at most max_redirects new
        INVITEs per call; a Contact already tried (a redirect loop) is skipped."""
        try:
            contacts = response.contacts
        except SipSyntaxError:
            contacts = []
        self._events.append(ev.Redirect(call.call_id, tuple(str(c.uri) for c in contacts)))
        usable = [c for c in contacts if isinstance(c.uri, SipUri)]
        usable.sort(key=lambda c: -_q_value(c))  # stable: equal q keeps the server's order
        fresh = [c.uri for c in usable if str(c.uri) not in call.tried_targets]
        call.alternates = fresh + [u for u in call.alternates if u not in fresh]
        if not call.alternates or call.redirects >= self.config.max_redirects:
            call.alternates = []
            self._end_call(call, "failed", response.status)
            return
        self._try_next_target(call, now)

    def _try_next_target(self, call: Call, now: float) -> None:
        target = call.alternates.pop(0)
        call.redirects += 1
        call.tried_targets.append(str(target))
        retry = self._next_invite(call.invite)
        retry.uri = target  # §8.1.3.4: only the Request-URI changes; To, From, Call-ID stay
        call.invite = retry
        call.got_provisional = False
        call.addr = self._destination(target, call.account)
        self._send_invite(call, now)

    def _reinvite_result(self, call: Call, response: SipResponse | None, now: float) -> None:
        if response is None or response.status in (408, 481):  # §14.1: the dialog is gone
            call.reinvite_tx = None
            if not call.ended:
                self._send_in_dialog(call, "BYE", now)
                self._end_call(
                    call,
                    "timeout" if response is None or response.status == 408 else "failed",
                    408 if response is None else response.status,
                )
            return
        status = response.status
        if status < 200:
            return
        previous = call.reinvite_tx.request if call.reinvite_tx else None
        call.reinvite_tx = None
        if status < 300:
            if call.dialog is not None:
                ack = call.dialog.build_request("ACK", cseq=response.cseq.number)
                call.dialog.update_target(response)
                self._add_via(ack)
                ack.headers.add("Max-Forwards", "70")
                call.acks[response.cseq.number] = ack.serialize()
                self._outbox.append((call.acks[response.cseq.number], self._dialog_addr(call)))
            call.reinvite_sdp = None
            self._events.append(ev.CallAnswered(call.call_id, response.body))
        elif status == 491:
            # §14.1: the Call-ID owner waits 2.1-4 s, the other side 0-2 s, then tries again.
            low, high = (2.1, 4.0) if call.role == "uac" else (0.0, 2.0)
            call.reinvite_retry_at = now + self._rng.uniform(low, high)
        elif status in (401, 407):
            retry = self._with_credentials(call, previous, response)
            if retry is not None:
                call.reinvite_tx = self._start_client(retry, self._dialog_addr(call), now)
            else:
                self._events.append(ev.ReofferFailed(call.call_id, status))
        else:
            call.reinvite_sdp = None
            self._events.append(ev.ReofferFailed(call.call_id, status))

    # -- building and sending ------------------------------------------------------------------
    def _send_invite(self, call: Call, now: float) -> None:
        self._add_via(call.invite, replace=True)
        self._add_contact(call.invite)
        call.invite.headers.set("Max-Forwards", "70")
        call.invite_tx = self._start_client(call.invite, call.addr, now)

    def _send_reinvite(self, call: Call, sdp: bytes, now: float) -> None:
        assert call.dialog is not None
        request = call.dialog.build_request("INVITE")
        self._add_via(request)
        request.headers.add("Max-Forwards", "70")
        self._add_contact(request)
        self._add_body(request, sdp)
        call.reinvite_tx = self._start_client(request, self._dialog_addr(call), now)

    def _send_cancel(self, call: Call, now: float) -> None:
        """§9.1: same Request-URI, Call-ID, To, From, top Via and CSeq number as the INVITE."""
        invite = call.invite
        cancel = SipRequest(method="CANCEL", uri=invite.uri)
        cancel.headers.add("Via", invite.headers.get_all("Via")[0])
        for route in invite.headers.raw("Route"):
            cancel.headers.add("Route", route)
        cancel.headers.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            cancel.headers.add(name, invite.headers.get(name) or "")
        cancel.headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        self._start_client(cancel, call.addr, now)

    def _send_in_dialog(self, call: Call, method: str, now: float) -> None:
        if call.dialog is None:
            return
        request = call.dialog.build_request(method)
        self._add_via(request)
        request.headers.add("Max-Forwards", "70")
        self._start_client(request, self._dialog_addr(call), now)

    def _build_2xx_ack(self, call: Call) -> SipRequest:
        """§13.2.2.4: a new transaction, the INVITE's CSeq number, via the dialog's route set."""
        assert call.dialog is not None
        ack = call.dialog.build_request("ACK", cseq=call.invite.cseq.number)
        self._add_via(ack)
        ack.headers.add("Max-Forwards", "70")
        for name in ("Authorization", "Proxy-Authorization"):
            for value in call.invite.headers.raw(name):
                ack.headers.add(name, value)
        return ack

    def _start_client(self, request: SipRequest, addr: Addr, now: float) -> ClientTransaction:
        user_agent = self.privacy.user_agent_header()
        if user_agent and "User-Agent" not in request.headers:
            request.headers.add("User-Agent", user_agent)  # §20.41
        for name in {name for name, _ in request.headers}:
            if not self.privacy.allows_header(name):
                request.headers.remove(name)
        transaction = ClientTransaction(request, addr, self.reliable, self.timers, now)
        self.transactions[transaction_key(request)] = transaction
        return transaction

    def _next_invite(self, previous: SipRequest) -> SipRequest:
        """The same INVITE with CSeq + 1 and a fresh branch (§8.1.3.5, §22.2)."""
        request = SipRequest(method="INVITE", uri=previous.uri, body=previous.body)
        for name, value in previous.headers:
            if name not in (
                "Via",
                "CSeq",
                "Authorization",
                "Proxy-Authorization",
                "Content-Length",
            ):
                request.headers.add(name, value)
        request.headers.set("CSeq", f"{previous.cseq.number + 1} INVITE")
        return request

    def _with_credentials(
        self, call: Call | None, request: SipRequest | None, response: SipResponse
    ) -> SipRequest | None:
        """§22.2: resend with Authorization / Proxy-Authorization, at most twice per call."""
        account = call.account if call else None
        if account is None or request is None or call is None or call.auth_attempts >= 2:
            return None
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = choose_challenge(response.headers.raw(header))
        if challenge is None:
            return None
        call.auth_attempts += 1
        self.stats.auth_retries += 1
        if request.method == "INVITE" and request is call.invite:
            retry = self._next_invite(request)
        else:
            retry = SipRequest(method=request.method, uri=request.uri, body=request.body)
            for name, value in request.headers:
                if name not in (
                    "Via",
                    "CSeq",
                    "Authorization",
                    "Proxy-Authorization",
                    "Content-Length",
                ):
                    retry.headers.add(name, value)
            number = call.dialog.next_cseq() if call.dialog else request.cseq.number + 1
            retry.headers.set("CSeq", f"{number} {request.method}")
            self._add_via(retry)
        answer_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        retry.headers.add(
            answer_header,
            authorization_value(
                challenge,
                username=account.auth_user,
                password=account.password,
                method=request.method,
                uri=str(request.uri),
                nc=1,
                cnonce=secrets.token_hex(8),
            ),
        )
        return retry

    def _respond_call(self, call: Call, status: int, now: float, sdp: bytes | None = None) -> None:
        transaction = call.invite_tx
        if not isinstance(transaction, ServerTransaction):
            return
        response = self._response(call.invite, status, to_tag=call.local_tag)
        if status < 300:
            self._add_contact(response)
            if call.invite.headers.get_all("Record-Route"):
                for value in call.invite.headers.raw("Record-Route"):
                    response.headers.add("Record-Route", value)
        if sdp is not None:
            self._add_body(response, sdp)
        transaction.send_response(response, now)

    def _response(
        self,
        request: SipRequest,
        status: int,
        *,
        to_tag: str | None = None,
        reason: str | None = None,
    ) -> SipResponse:
        """§8.2.6.2: copy Via, From, Call-ID, CSeq; To gets our tag unless it has one."""
        response = SipResponse(
            status=status, reason=reason or REASON_PHRASES.get(status, "Unknown")
        )
        for value in request.headers.raw("Via"):
            response.headers.add("Via", value)
        response.headers.add("From", request.headers.get("From") or "")
        to_value = request.headers.get("To") or ""
        if to_tag and status > 100 and "tag=" not in to_value.lower():
            to_value = f"{to_value};tag={to_tag}"
        response.headers.add("To", to_value)
        response.headers.add("Call-ID", request.call_id)
        response.headers.add("CSeq", request.headers.get("CSeq") or "")
        if status in (200, 405, 501) or (status == 200 and request.method == "OPTIONS"):
            response.headers.add("Allow", ALLOW)
        server = self.privacy.server_header()
        if server:
            response.headers.add("Server", server)  # §20.35
        return response

    def _answer_malformed(self, error: SipParseError, addr: Addr) -> None:
        """§8.2 / §16.3: answer a broken request with its status and reason when we can."""
        headers = error.headers
        vias = headers.raw("Via")
        needed = all(headers.raw(n) for n in ("From", "To", "Call-ID", "CSeq"))
        if (
            not error.is_request
            or error.status == 0
            or not vias
            or not needed
            or (error.start_line.split(" ", 1)[0] == "ACK")
        ):
            self.stats.malformed_dropped += 1
            return
        response = SipResponse(status=error.status, reason=_safe_reason(error.status, error.reason))
        for value in vias:
            response.headers.add("Via", value)
        for name in ("From", "To", "Call-ID", "CSeq"):
            response.headers.add(name, headers.raw(name)[0])
        self._outbox.append((response.serialize(), addr))
        self.stats.malformed_answered += 1

    def _add_via(self, request: SipRequest, replace: bool = False) -> None:
        if replace:
            request.headers.remove("Via")
        transport = self.config.transport.upper()
        branch = self.privacy.new_branch()  # §8.1.1.7: MAGIC_COOKIE + randomness only
        assert branch.startswith(MAGIC_COOKIE)
        request.headers.add_first(
            "Via",
            f"SIP/2.0/{transport} {self.config.local_host}:{self.config.local_port}"
            f";branch={branch};rport",
        )

    def _add_contact(self, message: SipMessage) -> None:
        message.headers.remove("Contact")
        params = (
            ""
            if self.config.transport.lower() == "udp"
            else f";transport={self.config.transport.lower()}"
        )
        message.headers.add(
            "Contact",
            f"<sip:{self.config.user}@{self.config.local_host}:{self.config.local_port}{params}>",
        )

    @staticmethod
    def _add_body(message: SipMessage, sdp: bytes) -> None:
        message.body = sdp
        message.headers.remove("Content-Type")
        if sdp:
            message.headers.add("Content-Type", "application/sdp")

    def _stamp_received(self, request: SipRequest, addr: Addr) -> None:
        """RFC 3261 §18.2.1 received=, RFC 3581 §4 rport= on the top Via."""
        values = request.headers.raw("Via")
        top = request.top_via
        params = list(top.params)
        changed = False
        if top.host != addr[0]:
            params = [(k, v) for k, v in params if k.lower() != "received"] + [
                ("received", addr[0])
            ]
            changed = True
        if top.param("rport") == "":
            params = [(k, v) if k.lower() != "rport" else (k, str(addr[1])) for k, v in params]
            changed = True
        if changed:
            new_top = str(type(top)(top.transport, top.host, top.port, tuple(params)))
            first, _, rest = values[0].partition(",")
            request.headers.remove("Via")
            request.headers.add_first("Via", new_top + ("," + rest if rest else ""))
            for value in values[1:]:
                request.headers.add("Via", value)

    def _reply_addr(self, request: SipRequest, addr: Addr) -> Addr:
        """§18.2.2 with RFC 3581 §4: rport (or a stream) means the source address and port."""
        top = request.top_via
        if self.reliable or top.param("rport"):
            return addr
        return (top.param("received") or top.host, top.port or 5060)

    def _dialog_addr(self, call: Call) -> Addr:
        """In-dialog next hop: first route, else the account's proxy, else the remote target."""
        if call.dialog is None:
            return call.addr
        if call.dialog.route_set:
            return _uri_addr(call.dialog.next_hop())
        if call.account is not None:
            return call.account.registrar_addr
        return _uri_addr(call.dialog.remote_target)

    # -- helpers -------------------------------------------------------------------------------
    def _account(self, name: str | None) -> Account | None:
        if name == DIRECT:  # straight to the target (LAN peer, IP address): no proxy, no auth
            return None
        if name is None:
            return self.config.accounts[0] if self.config.accounts else None
        for account in self.config.accounts:
            if account.name == name:
                return account
        raise KeyError(f"no account named {name!r} (have {[a.name for a in self.config.accounts]})")

    def _target_uri(self, target: str, account: Account | None) -> Uri:
        if ":" in target and target.split(":", 1)[0].lower() in ("sip", "sips", "tel"):
            return parse_uri(target.strip("<>"))
        if account is None:
            raise ValueError(f"target {target!r} is not a SIP URI and no account gives it a domain")
        return parse_uri(f"sip:{target}@{account.domain}")

    def _destination(self, uri: Uri, account: Account | None) -> Addr:
        if account is not None:
            return account.registrar_addr  # the registrar doubles as outbound proxy
        return _uri_addr(uri)

    def _local_identity(self, account: Account | None) -> str:
        # The user part stays even with privacy: registrars match it against the account's
        # authentication user (docs/privacy.md); the display name is left out (§20.20).
        user = account.user if account else self.config.user
        host = account.domain if account else f"{self.config.local_host}:{self.config.local_port}"
        display = self.privacy.display_name(self.config.display_name)
        name = f"{quote(display)} " if display else ""
        return f"{name}<sip:{user}@{host}>"

    def _call(self, call_id: str, role: str | None = None) -> Call:
        call = self.calls.get(call_id)
        if call is None or (role is not None and call.role != role):
            raise CallStateError(
                f"no {role or ''} call with Call-ID {call_id!r}".replace("  ", " ")
            )
        return call

    def _end_call(self, call: Call, reason: str, code: int | None, keep: bool = False) -> None:
        if call.ended:
            return
        call.ended = True
        if not keep:
            call.state = "ended"
        self._events.append(ev.CallEnded(call.call_id, reason, code))


class CallStateError(RuntimeError):
    """A call command was given in a state that forbids it."""


def _uri_addr(uri: Uri) -> Addr:
    if not isinstance(uri, SipUri):
        raise ValueError(f"cannot send to non-SIP URI {uri}")
    maddr = uri.param("maddr")
    return ((maddr or uri.host).strip("[]"), uri.port or (5061 if uri.scheme == "sips" else 5060))


def _q_value(contact: NameAddress) -> float:
    """RFC 3261 §20.10: q is 0-1, default 1; a malformed q sorts last."""
    text = contact.param("q")
    if text is None or text == "":
        return 1.0
    try:
        value = float(text)
    except ValueError:
        return -1.0
    return value if 0.0 <= value <= 1.0 else -1.0


def _safe_reason(status: int, detail: str) -> str:
    text = "".join(c for c in detail if c.isprintable())[:100]
    return f"{REASON_PHRASES.get(status, 'Bad Request')} ({text})"


__all__ = ["Account", "Call", "CallStateError", "NameAddress", "UaConfig", "UaStats", "UserAgent"]
