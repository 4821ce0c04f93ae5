"""Where what comes back from transactions goes: responses to their client transaction, and
every transaction event to the part of the user agent that started the transaction.

A response is ours only when its top Via names our host and port (RFC 3261 §18.1.2); it is then
matched to its client transaction by branch and method (§17.1.3). A 2xx to an INVITE whose
transaction has already ended is a retransmission of the final answer: the ACK is sent again
(§13.2.2.4), since the 2xx is retransmitted until it is ACKed (§13.3.1.4).

Transaction events (a response, a timeout, the end of the window a server transaction keeps
after its 2xx) are routed by who owns the request: OPTIONS probes and flow checks, the
voicemail subscriptions, the registrations, else the call the Call-ID names — its INVITE
session (invite.py), its re-INVITE and REFER (in_dialog.py), an in-dialog request to retry with
credentials (§22.2), or the server side of its INVITE (§17.2.1 Timer H, §13.3.1.4: no ACK).

`TransactionRouting` holds no state of its own: it is given the parts it routes to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from deskphone.sip.builder import MessageBuilder
from deskphone.sip.call import Addr, Call, CallTable, SipCallState
from deskphone.sip.flow import FlowChecks
from deskphone.sip.in_dialog import InDialogRequests
from deskphone.sip.invite import InviteSessions
from deskphone.sip.message import SipResponse
from deskphone.sip.probe import Probes
from deskphone.sip.registration import Registration
from deskphone.sip.table import TransactionTable
from deskphone.sip.transaction import (
    AcceptedWindowClosed,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    Transaction,
    TransactionEvent,
    TransactionTimedOut,
    transaction_key,
)
from deskphone.sip.voicemail import VoicemailSubscriptions


class TransactionRouting:
    def __init__(self, builder: MessageBuilder, table: TransactionTable, calls: CallTable,
                 sessions: InviteSessions, in_dialog: InDialogRequests, probes: Probes,
                 flows: FlowChecks, voicemail: VoicemailSubscriptions,
                 registrations: Mapping[str, Registration], send: Callable[[bytes, Addr], None]):
        self.builder = builder
        self.table = table
        self.calls = calls
        self.sessions = sessions
        self.in_dialog = in_dialog
        self.probes = probes
        self.flows = flows
        self.voicemail = voicemail
        self.registrations = registrations
        self._send = send

    # -- responses in --------------------------------------------------------------------------
    def receive_response(self, response: SipResponse, now: float) -> None:
        via = response.top_via
        if (
            via.host != self.builder.config.local_host.lower()
            or (via.port or 5060) != self.builder.config.local_port
        ):
            self.builder.stats.responses_unmatched += 1  # §18.1.2: not ours
            return
        transaction = self.table.get(transaction_key(response))
        if not isinstance(transaction, ClientTransaction):
            self._stray_2xx(response)
            return
        before = len(transaction.events)
        transaction.receive_response(response, now)
        if len(transaction.events) == before:
            self.builder.stats.retransmissions_absorbed += 1

    def _stray_2xx(self, response: SipResponse) -> None:
        """A 2xx retransmission after our INVITE transaction ended: re-send the ACK (§13.2.2.4)."""
        call = self.calls.find(response.call_id)
        if (
            call is not None
            and call.ack is not None
            and response.cseq.method == "INVITE"
            and response.status < 300
        ):
            self._send(call.ack, call.addr)
            self.builder.stats.retransmissions_absorbed += 1
        else:
            self.builder.stats.responses_unmatched += 1

    # -- transaction events to their owners -----------------------------------------------------
    def route(self, transaction: Transaction, event: TransactionEvent, now: float) -> None:
        request = transaction.request
        if self.probes.owns(request):
            self.probes.on_transaction_event(request, event)
            return
        if self.flows.owns(request):
            self.flows.on_transaction_event(request, event, now)
            return
        if (subscription := self.voicemail.owns(transaction)) is not None:
            subscription.on_transaction_event(transaction, event, now)
            return
        if request.method == "REGISTER":
            for registration in self.registrations.values():
                registration.on_transaction_event(transaction, event, now)
                if registration.state == "registered":  # the voicemail lamp, once registered
                    self.voicemail.start(registration.account.name, now)
            return
        call = self.calls.find(request.call_id)
        if call is None:
            return
        if isinstance(transaction, ServerTransaction):
            self._server_event(call, transaction, event, now)
            return
        response = event.response if isinstance(event, ResponseReceived) else None
        if (
            request.method == "INVITE"
            and response is not None
            and 200 <= response.status < 300
            and response.cseq.number in call.acks
            and transaction is not call.invite_tx
        ):
            self._send(call.acks[response.cseq.number], self.builder.dialog_addr(call))
        elif request.method == "INVITE" and transaction is call.invite_tx:
            self.sessions.invite_result(call, response, now)
        elif request.method == "INVITE" and transaction is call.reinvite_tx:
            self.in_dialog.reinvite_result(call, response, now)
        elif (
            response is not None
            and response.status in (401, 407)
            and request.method in ("BYE", "REFER")
            and (retry := self.builder.with_credentials(call, request, response)) is not None
        ):
            self.table.start_client(retry, transaction.addr, now)
        elif request.method == "REFER" and (response is None or response.status >= 200):
            self.in_dialog.refer_result(call, response)

    def _server_event(self, call: Call, transaction: ServerTransaction,
                      event: TransactionEvent, now: float) -> None:
        if isinstance(event, TransactionTimedOut) and transaction is call.invite_tx:
            # §17.2.1 Timer H: our final response was never ACKed.
            self.calls.end(call, "timeout", 408)
        elif isinstance(event, AcceptedWindowClosed) and transaction is call.invite_tx:
            if call.state == SipCallState.ANSWERED:
                self.in_dialog.send_in_dialog(call, "BYE", now)  # §13.3.1.4: no ACK for our 2xx
                self.calls.end(call, "timeout", 408)
        elif isinstance(event, AcceptedWindowClosed) and transaction is call.reoffer_tx:
            call.reoffer_tx = None


__all__ = ["TransactionRouting"]
