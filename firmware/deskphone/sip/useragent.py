"""The SIP user agent core (RFC 3261 §8, §12-§15, §22), sans-IO in the aioquic shape.

Bytes, addresses and `now` go in (`receive_datagram`), bytes and addresses come out
(`datagrams_to_send`), the core says when it wants to be woken (`get_timer`/`handle_timer`) and
reports what happened as events (`next_event`). Commands (`invite`, `answer`, `hangup`...) are
plain methods. The core never opens a socket, reads a clock or resolves a name: hosts in URIs
are used as given and resolution belongs to the transport.

This module holds the `UserAgent` itself: its configuration and counters, the sans-IO surface,
registration and OPTIONS probe commands, and the dispatch of incoming requests, responses and
transaction events to the parts that handle them, one module per concept:

- `call.py`: the per-call state record (`Call`), `CallStateError`, end reasons;
- `invite.py`: INVITE client and server, CANCEL, ACK, auth retries and redirects (`invite`,
  `ringing`, `answer`, `reject`, `hangup`);
- `in_dialog.py`: BYE, re-INVITE (`reinvite`, `answer_reoffer`), OPTIONS/INFO and the REFER/
  NOTIFY of a transfer (`refer`, `notify_transfer`);
- `builder.py`: building requests and responses (Via, Contact, privacy), where they go, §8.2.2
  request inspection, digest retries;
- `registration.py`: registration with a registrar, one per account.
"""

from __future__ import annotations

import heapq
import random
import secrets
from collections import deque
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace

from deskphone.routing.privacy import PrivacyPolicy
from deskphone.sip import events as ev
from deskphone.sip.builder import (
    ALLOW,
    REASON_PHRASES,
    SUPPORTED_EXTENSIONS,
    safe_reason,
    uri_addr,
)
from deskphone.sip.call import Addr, Call, CallStateError, end_reason
from deskphone.sip.digest import AccountRealms
from deskphone.sip.invite import DIRECT, InviteSessions
from deskphone.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from deskphone.sip.registration import Account, Registration
from deskphone.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    transaction_key,
)
from deskphone.sip.uri import NameAddress, SipSyntaxError, SipUri, parse_uri

# What a peer's bytes can raise from the lazily parsed parts of a message; caught at the
# sans-IO surface so that bad input is a counted drop or a 400, never an exception.
_BAD_INPUT = (SipSyntaxError, ValueError, IndexError, UnicodeError)


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
    auth_foreign_realm: int = 0  # challenges refused: their realm is not the account's


class UserAgent(InviteSessions):
    def __init__(self, config: UaConfig):
        self.config = config
        self.timers = TimerConfig(config.t1, config.t2, config.t4)
        self.reliable = config.transport.lower() != "udp"
        self.stats = UaStats()
        self.calls: dict[str, Call] = {}
        self.transactions: dict[tuple[str, str, str], Transaction] = {}
        # Transactions driven since the last `_collect` (output, events, maybe terminated), the
        # number of live transactions per Call-ID, and the ended calls that may now be freed.
        self._touched: dict[int, Transaction] = {}
        self._live: dict[str, int] = {}
        self._freeable: set[str] = set()
        self._deadlines: list[tuple[float, int, Transaction]] = []  # heap, stale entries skipped
        self._deadline_seq = 0
        self.registrations = {
            account.name: Registration(self, account) for account in config.accounts
        }
        # RFC 3261 §11 OPTIONS probes (`probe`): Call-ID → (target, give-up time or None).
        self.probes: dict[str, tuple[str, float | None]] = {}
        self._outbox: list[tuple[bytes, Addr]] = []
        self._events: deque[ev.Event] = deque()
        self._rng = random.Random(config.seed if config.seed is not None else secrets.randbits(64))
        self.realms = AccountRealms()
        self.privacy = PrivacyPolicy(enabled=config.privacy, user_agent=config.user_agent or "")
        for registration in self.registrations.values():
            # RFC 3261 §10.2: one Call-ID per registrar binding, from the privacy policy.
            registration.call_id = self.privacy.new_call_id(config.local_host)
            registration.local_tag = self.privacy.new_tag()

    # -- the sans-IO surface -------------------------------------------------------------------
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        for transaction in self._touched.values():
            self._outbox.extend(transaction.outbox)
            transaction.outbox.clear()
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        for transaction in self._touched.values():
            self._schedule(transaction)
        deadlines = [self._next_transaction_deadline()]
        deadlines += [r.next_deadline() for r in self.registrations.values()]
        deadlines += [deadline for _, deadline in self.probes.values()]
        deadlines += [c.reinvite_retry_at for c in self.calls.values()]
        deadlines += [c.refer_deadline for c in self.calls.values()]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> None:
        # Nothing a peer sent may escape as an exception: a header read lazily (a Contact that
        # is not a SIP URI, a digit that is not ASCII) is a dropped, counted message.
        try:
            self._run_timers(now)
        except _BAD_INPUT:
            self.stats.malformed_dropped += 1
        try:
            self._collect(now)
        except _BAD_INPUT:
            self.stats.malformed_dropped += 1

    # -- transaction deadlines: a heap, so a timer costs log(n) however many are open -----------
    def _schedule(self, transaction: Transaction) -> None:
        deadline = transaction.next_deadline()
        if deadline is not None:
            self._deadline_seq += 1
            heapq.heappush(self._deadlines, (deadline, self._deadline_seq, transaction))

    def _due_entry_is_current(self) -> bool:
        """Drop heap entries whose transaction is gone or has moved its deadline since."""
        while self._deadlines:
            deadline, _, transaction = self._deadlines[0]
            key = transaction.key
            if (
                key is not None
                and self.transactions.get(key) is transaction
                and transaction.next_deadline() == deadline
            ):
                return True
            heapq.heappop(self._deadlines)
        return False

    def _next_transaction_deadline(self) -> float | None:
        return self._deadlines[0][0] if self._due_entry_is_current() else None

    def _run_timers(self, now: float) -> None:
        for transaction in self._touched.values():
            self._schedule(transaction)
        while self._due_entry_is_current() and self._deadlines[0][0] <= now:
            _, _, transaction = heapq.heappop(self._deadlines)
            transaction.handle_timer(now)  # touched: rescheduled by _collect
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

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        try:
            message = parse_message(data, datagram=not self.reliable)
        except SipParseError as error:
            self._answer_malformed(error, addr)
            return
        except _BAD_INPUT:
            self.stats.malformed_dropped += 1
            return
        try:
            if isinstance(message, SipRequest):
                self._receive_request(message, addr, now)
            elif isinstance(message, SipResponse):
                self._receive_response(message, now)
        except _BAD_INPUT:
            # A header we only parse lazily was bad: the message is dropped and counted.
            self.stats.malformed_dropped += 1
        try:
            self._collect(now)
        except _BAD_INPUT:
            self.stats.malformed_dropped += 1

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

    # -- OPTIONS probes (§11) ------------------------------------------------------------------
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
        self._start_client(request, uri_addr(request.uri), now)
        self._collect(now)
        return call_id

    def _probe_done(self, call_id: str, code: int | None) -> None:
        probe = self.probes.pop(call_id, None)
        if probe is None:
            return
        for key, transaction in list(self.transactions.items()):
            if transaction.request.call_id == call_id:
                self._forget(key)  # no more retransmissions: we stopped asking
        self._events.append(ev.ProbeResult(call_id, probe[0], code))

    def abandon_transaction(self, transaction: Transaction) -> None:
        """Forget a client transaction its owner gave up on: no more retransmissions, and a
        late response is counted as unmatched."""
        for key, known in list(self.transactions.items()):
            if known is transaction:
                self._forget(key)

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
        self._track(key, transaction)
        try:
            self._receive_new_request(request, transaction, reply_addr, now)
        except _BAD_INPUT as error:
            self._refuse_unparsable(request, transaction, error, now)

    def _refuse_unparsable(
        self, request: SipRequest, transaction: ServerTransaction, error: Exception, now: float
    ) -> None:
        """A header read only now (Require: "x, Accept: "x, a Contact that is no SIP URI) broke
        the grammar after the server transaction was stored: answer 400 (RFC 3261 §21.4.1), so
        the transaction runs its timers and is freed, instead of waiting forever."""
        call = self.calls.get(request.call_id)
        if call is not None and call.invite_tx is transaction:
            self._end_call(call, "failed", 400)
        if transaction.state not in ("trying", "proceeding"):
            self.stats.malformed_dropped += 1  # a final response already went out
            return
        reason = safe_reason(400, str(error))
        response = self._response(request, 400, to_tag=self.privacy.new_tag(), reason=reason)
        transaction.send_response(response, now)
        self.stats.malformed_answered += 1

    def _receive_new_request(
        self, request: SipRequest, transaction: ServerTransaction, reply_addr: Addr, now: float
    ) -> None:
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

    # -- routing transaction events ------------------------------------------------------------
    def _collect(self, now: float) -> None:
        """Route transaction events to the calls and registrations that own them, queue what
        the transactions send, forget the terminated ones and free the calls they ended.

        Only transactions driven since the last pass are visited, so a flood of requests costs
        the same per request however many transactions are open."""
        while self._touched:
            transaction = self._touched.pop(next(iter(self._touched)))
            while transaction.events:
                kind, payload = transaction.events.pop(0)
                self._dispatch(transaction, kind, payload, now)
            self._outbox.extend(transaction.outbox)
            transaction.outbox.clear()
            key = transaction.key
            if key is None or self.transactions.get(key) is not transaction:
                continue
            if transaction.terminated:
                self._forget(key)
            else:
                self._schedule(transaction)
        self._free_ended_calls()

    def _free_ended_calls(self) -> None:
        """An ended call is dropped once no transaction of its Call-ID is left: by then the
        RFC 3261 timers (H, I, J, K, D, L, M) have absorbed every retransmission it can get."""
        while self._freeable:
            call_id = self._freeable.pop()
            call = self.calls.get(call_id)
            if call is not None and call.ended and not self._live.get(call_id):
                del self.calls[call_id]

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
                # §17.2.1 Timer H: our final response was never ACKed.
                call.state = "ended"
                self._end_call(call, "timeout", 408)
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

    # -- the call table ------------------------------------------------------------------------
    def _call(self, call_id: str, role: str | None = None) -> Call:
        call = self.calls.get(call_id)
        if call is None or (role is not None and call.role != role):
            raise CallStateError(
                f"no {role or ''} call with Call-ID {call_id!r}".replace("  ", " ")
            )
        return call

    def _end_call(self, call: Call, reason: str, code: int | None, keep: bool = False) -> None:
        self._freeable.add(call.call_id)
        if call.ended:
            return
        call.ended = True
        if not keep:
            call.state = "ended"
        self._events.append(ev.CallEnded(call.call_id, reason, code))


# The public names of this module before it was split by concept stay importable from here.
__all__ = [
    "ALLOW",
    "DIRECT",
    "REASON_PHRASES",
    "SUPPORTED_EXTENSIONS",
    "Account",
    "Addr",
    "Call",
    "CallStateError",
    "NameAddress",
    "UaConfig",
    "UaStats",
    "UserAgent",
    "end_reason",
]
