"""The SIP user agent core (RFC 3261 §8, §12-§15, §22), sans-IO in the aioquic shape.

Bytes, addresses and `now` go in (`receive_datagram`), bytes and addresses come out
(`datagrams_to_send`), the core says when it wants to be woken (`get_timer`/`handle_timer`) and
reports what happened as events (`next_event`). Commands (`invite`, `answer`, `hangup`...) are
plain methods. The core never opens a socket, reads a clock or resolves a name: hosts in URIs
are used as given and resolution belongs to the transport.

`UserAgent` is composed of objects of their own, one module per concept, each given what it
needs (the builder, the transaction table or its `TransactionStarter` interface, the call
table, a callable to report events) and none importing this module:

- `builder.py`: `MessageBuilder`, building requests and responses (Via, Contact, privacy),
  where they go, §8.2.2 request inspection, digest retries;
- `table.py`: `TransactionTable`, the transactions, their deadlines and what they produced;
- `call.py`: the per-call record (`Call`), its `SipCallState`, the `CallTable`;
- `invite.py`: `InviteSessions`, INVITE client and server, CANCEL, ACK, auth retries and
  redirects;
- `in_dialog.py`: `InDialogRequests`, BYE, re-INVITE, OPTIONS/INFO, REFER/NOTIFY;
- `transaction_routing.py`: `TransactionRouting`, responses to their client transaction
  (§18.1.2, §17.1.3) and each transaction event to the part that started the transaction;
- `wakeups.py`: `Wakeups`, the one `get_timer`/`handle_timer` fanned out to the parts' deadlines;
- `registration.py`: `Registration`, one per account; `probe.py`: OPTIONS probes.
- `session_timer.py`: `SessionTimers`, RFC 4028 Session-Expires, refreshes, BYE on expiry.
- `stateless.py`, `admission.py`: who gets a server transaction under a flood (§8.2.7).

This module holds the sans-IO surface, the commands (delegated), and the dispatch of incoming
requests to the part that handles them.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from dataclasses import replace as dataclass_replace

from deskphone.routing.privacy import PrivacyPolicy
from deskphone.sip import events as ev
from deskphone.sip.admission import ServerAdmission
from deskphone.sip.builder import (
    ALLOW,
    REASON_PHRASES,
    SUPPORTED_EXTENSIONS,
    MessageBuilder,
    safe_reason,
)
from deskphone.sip.call import Addr, Call, CallStateError, CallTable, SipCallState, end_reason
from deskphone.sip.config import UaConfig, UaStats
from deskphone.sip.digest import AccountRealms
from deskphone.sip.flow import FlowChecks
from deskphone.sip.in_dialog import InDialogRequests
from deskphone.sip.invite import DIRECT, InviteSessions
from deskphone.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from deskphone.sip.probe import Probes
from deskphone.sip.registration import Account, Registration
from deskphone.sip.replaces import replaces_for
from deskphone.sip.session_timer import SessionTimers
from deskphone.sip.stateless import StatelessAnswers
from deskphone.sip.table import TransactionTable
from deskphone.sip.transaction import (
    ServerTransaction,
    TimerConfig,
    Transaction,
    TxState,
    transaction_key,
)
from deskphone.sip.transaction_routing import TransactionRouting
from deskphone.sip.uri import NameAddress, SipSyntaxError
from deskphone.sip.voicemail import VoicemailSubscriptions
from deskphone.sip.wakeups import Wakeups

# What a peer's bytes can raise from the lazily parsed parts of a message; caught at the
# sans-IO surface so that bad input is a counted drop or a 400, never an exception.
_BAD_INPUT = (SipSyntaxError, ValueError, IndexError, UnicodeError)


class UserAgent:
    def __init__(self, config: UaConfig):
        self.timers = TimerConfig(config.t1, config.t2, config.t4)
        self.reliable = config.transport.lower() != "udp"
        self.stats = UaStats()
        self._outbox: list[tuple[bytes, Addr]] = []
        self._events: deque[ev.Event] = deque()
        self._rng = random.Random(config.seed if config.seed is not None else secrets.randbits(64))
        self.realms = AccountRealms()
        self.privacy = PrivacyPolicy(enabled=config.privacy, user_agent=config.user_agent or "")
        self.builder = MessageBuilder(config, self.privacy, self.stats, self.realms)
        self.table = TransactionTable(self.reliable, self.timers, self.builder.finish_request)
        self.call_table = CallTable(self._events.append)
        self.session_timers = SessionTimers(
            self.builder, self.call_table, self._events.append,
            lambda c, sdp, t: self.in_dialog.send_reinvite(c, sdp, t),
            lambda c, t: self.in_dialog.send_in_dialog(c, "BYE", t))
        self.in_dialog = InDialogRequests(self.builder, self.table, self.call_table,
                                          self._events.append, self._send, self._rng,
                                          self.session_timers)
        self.sessions = InviteSessions(self.builder, self.table, self.call_table, self.in_dialog,
                                       self.session_timers, self._events.append, self._send)
        self.probes = Probes(self.builder, self.table, self._events.append)
        self.stateless = StatelessAnswers(self.builder, self.stats, self._send)
        self.voicemail = VoicemailSubscriptions(config.accounts, self.builder, self.table,
                                                self._events.append)
        self.admission = ServerAdmission(lambda: self.config, self.call_table, self.table)
        self.registrations = {
            account.name: Registration(account, self.builder, self.table, self._events.append)
            for account in config.accounts
        }
        self.flows = FlowChecks(self.builder, self.table)
        self.routing = TransactionRouting(
            self.builder, self.table, self.call_table, self.sessions, self.in_dialog,
            self.probes, self.flows, self.voicemail, self.registrations, self._send)
        self.wakeups = Wakeups(self.table, self._collect, lambda: [
            *self.registrations.values(), self.probes, self.flows, self.session_timers,
            self.voicemail, self.in_dialog])

    @property
    def config(self) -> UaConfig:
        return self.builder.config

    @config.setter
    def config(self, config: UaConfig) -> None:
        self.builder.config = config  # every part reads it there (e.g. the bound port)

    @property
    def calls(self) -> dict[str, Call]:
        return self.call_table.calls

    @property
    def transactions(self) -> dict[tuple[str, str, str], Transaction]:
        return self.table.transactions

    def _send(self, data: bytes, addr: Addr) -> None:
        self._outbox.append((data, addr))

    # -- the sans-IO surface -------------------------------------------------------------------
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        self._outbox.extend(self.table.outboxes())
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self.wakeups.get_timer()

    def handle_timer(self, now: float) -> None:
        # Nothing a peer sent may escape as an exception: a header read lazily (a Contact that
        # is not a SIP URI, a digit that is not ASCII) is a dropped, counted message.
        self._guarded(self.wakeups.handle_timer, now)
        self._guarded(self._collect, now)

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        try:
            message = parse_message(data, datagram=not self.reliable)
        except SipParseError as error:
            answer = self.builder.malformed_response(error)
            if answer is None:
                self.stats.malformed_dropped += 1
            else:
                self._send(answer, addr)
                self.stats.malformed_answered += 1
            return
        except _BAD_INPUT:
            self.stats.malformed_dropped += 1
            return
        if isinstance(message, SipRequest):
            self._guarded(lambda t: self._receive_request(message, addr, t), now)
        elif isinstance(message, SipResponse):
            self._guarded(lambda t: self.routing.receive_response(message, t), now)
        self._guarded(self._collect, now)

    def _guarded(self, step: object, now: float) -> None:
        try:
            step(now)  # type: ignore[operator]
        except _BAD_INPUT:
            self.stats.malformed_dropped += 1  # a header we only parse lazily was bad

    def transport_error(self, addr: Addr, now: float, *, unresolved: bool = False) -> None:
        """The transport could not reach addr (ICMP, refused TCP, TLS failure): §8.1.3.1.
        `unresolved`: addr's host name did not resolve (RFC 3263 §4.3: no server to try)."""
        for call in list(self.calls.values()):
            if (call.state in (SipCallState.CALLING, SipCallState.EARLY) and call.role == "uac"
                    and call.addr == addr):
                self.call_table.end(call, "unreachable", 503)
        for registration in self.registrations.values():
            registration.transport_error(addr, now, unresolved=unresolved)

    # -- call commands (delegated; each ends with the routing of what it started) ---------------
    def invite(self, target: str, sdp: bytes, now: float, account: str | None = None,
               replaces: str | None = None) -> str:
        call_id = self.sessions.invite(target, sdp, now, account, replaces)
        self._collect(now)
        return call_id

    def ringing(self, call_id: str, now: float) -> None:
        self.sessions.ringing(call_id, now)
        self._collect(now)

    def answer(self, call_id: str, sdp: bytes, now: float) -> None:
        self.sessions.answer(call_id, sdp, now)
        self._collect(now)

    def reject(self, call_id: str, code: int, now: float) -> None:
        self.sessions.reject(call_id, code, now)
        self._collect(now)

    def redirect(self, call_id: str, contact: str, now: float) -> None:
        self.sessions.redirect(call_id, contact, now)
        self._collect(now)

    def dialog_replaces(self, call_id: str, now: float) -> str:
        """What an INVITE replacing our dialog `call_id` must say, as its far end will match it
        (RFC 3891 §3), e.g. for an attended transfer's REFER."""
        dialog = self.calls[call_id].dialog if call_id in self.calls else None
        if dialog is None:
            raise CallStateError(f"call {call_id} has no dialog to replace")
        return str(replaces_for(call_id, dialog.local_tag, dialog.remote_tag))

    def dialog_target(self, call_id: str, now: float) -> str:
        """The far end's remote target (Contact) of our dialog `call_id` (RFC 3261 §12.1)."""
        dialog = self.calls[call_id].dialog if call_id in self.calls else None
        if dialog is None:
            raise CallStateError(f"call {call_id} has no dialog")
        return str(dialog.remote_target)

    def hangup(self, call_id: str, now: float) -> None:
        self.sessions.hangup(call_id, now)
        self._collect(now)

    def reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        self.in_dialog.reinvite(call_id, sdp, now)
        self._collect(now)

    def answer_reoffer(self, call_id: str, sdp: bytes, now: float) -> None:
        self.in_dialog.answer_reoffer(call_id, sdp, now)
        self._collect(now)

    def reject_reoffer(self, call_id: str, code: int, now: float) -> None:
        self.in_dialog.reject_reoffer(call_id, code, now)
        self._collect(now)

    def refer(self, call_id: str, target: str, now: float, replaces: str | None = None) -> None:
        self.in_dialog.refer(call_id, target, now, replaces)
        self._collect(now)

    def notify_transfer(self, call_id: str, status: int, reason: str, now: float) -> None:
        self.in_dialog.notify_transfer(call_id, status, reason, now)
        self._collect(now)

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

    def keepalive(self, now: float) -> None:
        """A CRLF keep-alive (RFC 5626 §4.4.1's ping, sent on UDP as many phones do; registrars
        ignore it, RFC 3261 §7.5) to the registrar of every account registered over UDP: the
        NAT mapping of that flow stays open, so incoming requests keep arriving."""
        for registration in self.registrations.values():
            account = registration.account
            if registration.state == "registered" and account.transport.lower() == "udp":
                self._send(b"\r\n\r\n", account.registrar_addr)
                self.stats.keepalives_sent += 1

    def check_flows(self, now: float) -> None:
        """Ask the registrar of every account registered over UDP which public address our
        flow has now (`flow.FlowChecks`): a changed mapping or no answer registers again."""
        for registration in self.registrations.values():
            account = registration.account
            if registration.state == "registered" and account.transport.lower() == "udp":
                self.flows.check(registration, now)
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
        call_id = self.probes.probe(target, now, timeout)
        self._collect(now)
        return call_id

    def abandon_transaction(self, transaction: Transaction) -> None:
        self.table.abandon(transaction)

    # -- receiving requests --------------------------------------------------------------------
    def _receive_request(self, request: SipRequest, addr: Addr, now: float) -> None:
        self.builder.stamp_received(request, addr)
        reply_addr = self.builder.reply_addr(request, addr)
        existing = self.table.get(transaction_key(request))
        if (
            existing is not None
            and isinstance(existing, ServerTransaction)
            and request.method != "CANCEL"
        ):
            existing.receive_request(request, now)
            self.stats.retransmissions_absorbed += request.method != "ACK"
            return
        if self._overloaded(request, addr, now):
            if request.method in ("ACK", "CANCEL"):
                self.stats.overload_dropped += 1  # §8.2.7: a stateless UAS ignores both
            else:
                self.stateless.answer(request, out_of_dialog_status(request.method), reply_addr)
            return
        if request.method == "ACK":
            self.sessions.receive_2xx_ack(request, now)
            return
        if request.method == "CANCEL":
            self.sessions.receive_cancel(request, reply_addr, now)
            return
        transaction = self.table.start_server(request, reply_addr, now)
        # The voicemail lamp's NOTIFYs, judged by the address they really came from.
        if request.method == "NOTIFY" and self.voicemail.receive_notify(request, transaction,
                                                                         addr, now):
            return
        try:
            self._receive_new_request(request, transaction, reply_addr, now)
        except _BAD_INPUT as error:
            self._refuse_unparsable(request, transaction, error, now)

    def _overloaded(self, request: SipRequest, addr: Addr, now: float) -> bool:
        """No room for this source (admission.py), of no call we have (stateless.py)."""
        if request.call_id in self.calls:
            return False  # the call that is up, its BYE, re-INVITE and ACKs stay stateful
        if request.method in ("ACK", "CANCEL"):  # §8.2.7: ignored by a stateless UAS
            return self.table.server_count >= self.config.max_server_transactions
        return not self.admission.admit(transaction_key(request), addr[0], now)

    def _refuse_unparsable(
        self, request: SipRequest, transaction: ServerTransaction, error: Exception, now: float
    ) -> None:
        """A header read only now (Require: "x, Accept: "x, a Contact that is no SIP URI) broke
        the grammar after the server transaction was stored: answer 400 (RFC 3261 §21.4.1), so
        the transaction runs its timers and is freed, instead of waiting forever."""
        call = self.calls.get(request.call_id)
        if call is not None and call.invite_tx is transaction:
            self.call_table.end(call, "failed", 400)
        if transaction.state not in (TxState.TRYING, TxState.PROCEEDING):
            self.stats.malformed_dropped += 1  # a final response already went out
            return
        reason = safe_reason(400, str(error))
        response = self.builder.response(request, 400, to_tag=self.privacy.new_tag(),
                                         reason=reason)
        transaction.send_response(response, now)
        self.stats.malformed_answered += 1

    def _receive_new_request(
        self, request: SipRequest, transaction: ServerTransaction, reply_addr: Addr, now: float
    ) -> None:
        if request.to.tag:
            self.in_dialog.receive_in_dialog(request, transaction, now)
            return
        method = request.method
        if method == "OPTIONS" and self.builder.reject_if_unsupported(request, transaction, now):
            return  # §8.2.1 method first (405/501 below), then §8.2.2 header inspection
        if method == "INVITE":
            self.sessions.receive_invite(request, transaction, reply_addr, now)
            return
        status = out_of_dialog_status(method)
        response = self.builder.response(request, status, to_tag=self.privacy.new_tag())
        if method == "OPTIONS":
            response.headers.add("Accept", "application/sdp")
        transaction.send_response(response, now)

    # -- routing transaction events ------------------------------------------------------------
    def _collect(self, now: float) -> None:
        """Route transaction events to the calls, registrations and probes that own them,
        queue what the transactions send, and free the calls that ended and have no
        transaction left."""
        for transaction, event in self.table.drain(self._outbox):
            self.routing.route(transaction, event, now)
        self.call_table.free_ended(self.table.live, self.table.freed_call_ids)


def out_of_dialog_status(method: str) -> int:
    """The answer to a request outside any dialog that is not an INVITE: OPTIONS is answered
    (§11.2), what a phone does not serve is 405, what needs a dialog 481 (§12.2.2), the rest 501."""
    if method == "OPTIONS":
        return 200
    if method in ("REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE"):
        return 405
    if method in ("BYE", "REFER", "NOTIFY", "INFO", "PRACK", "UPDATE"):
        return 481
    return 501


# The public names of this module before it was split by concept stay importable from here.
__all__ = ["ALLOW", "DIRECT", "REASON_PHRASES", "SUPPORTED_EXTENSIONS", "Account", "Addr", "Call",
           "CallStateError", "NameAddress", "UaConfig", "UaStats", "UserAgent", "end_reason"]
