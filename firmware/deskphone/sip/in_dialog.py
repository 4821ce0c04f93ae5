"""Requests inside an established dialog (RFC 3261 §12.2, §14, §15; RFC 3515 REFER).

BYE ends the call, re-INVITE changes the session (hold, resume, new media) with §14.1 glare
handling (491 and the randomised retry), OPTIONS and INFO are answered, and a blind transfer
runs both ways: `refer` sends REFER and follows the implicit subscription's NOTIFYs (RFC 3515
§2.4, RFC 6665), a received REFER is accepted with 202 and reported with sipfrag NOTIFYs.
Parsing the REFER/NOTIFY headers and bodies lives in `refer.py`.

`InDialogRequests` is one object of the user agent, given the message builder, the
`TransactionStarter` to send with, the call table, and callables to report events and to send a
datagram outside any transaction (the ACK for a 2xx, §13.2.2.4). The `UserAgent` routes the
in-dialog requests and the results of our own in-dialog transactions to it, and its timer fans out
to the two deadlines this part keeps on each call: the §14.1 re-INVITE retry after a 491 and the
end of a REFER's implicit subscription (RFC 6665 §4.1.2.4).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from deskphone.sip import events as ev
from deskphone.sip.builder import MessageBuilder, safe_reason
from deskphone.sip.call import Addr, Call, CallStateError, CallTable, SipCallState
from deskphone.sip.message import SipRequest, SipResponse
from deskphone.sip.refer import (
    SIPFRAG,
    SUBSCRIPTION_SECONDS,
    ReferError,
    parse_refer_notify,
    refer_target,
    sipfrag,
    subscription_state,
)
from deskphone.sip.replaces import parse_replaces
from deskphone.sip.session_timer import SessionTimers
from deskphone.sip.table import TransactionStarter
from deskphone.sip.transaction import ServerTransaction
from deskphone.sip.uri import SipSyntaxError


class InDialogRequests:
    """BYE, re-INVITE, OPTIONS/INFO and REFER/NOTIFY within a call's dialog."""

    def __init__(self, builder: MessageBuilder, transactions: TransactionStarter,
                 calls: CallTable, emit: Callable[[ev.Event], None],
                 send: Callable[[bytes, Addr], None], rng: random.Random,
                 timers: SessionTimers):
        self.builder = builder
        self.timers = timers
        self.transactions = transactions
        self.calls = calls
        self._emit = emit
        self._send = send
        self._rng = rng

    # -- re-INVITE commands (§14) --------------------------------------------------------------
    def reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        call = self.calls.get(call_id)
        if call.dialog is None or call.state != SipCallState.CONFIRMED:
            raise CallStateError(
                f"call {call_id} is {call.state}, re-INVITE needs a confirmed dialog"
            )
        call.reinvite_sdp = sdp
        if call.reinvite_tx is None and call.reoffer_tx is None:
            call.refresh_pending = False  # the person's offer: its answer goes to the call layer
            self.send_reinvite(call, sdp, now)

    def answer_reoffer(self, call_id: str, sdp: bytes, now: float) -> None:
        call = self.calls.get(call_id)
        if call.reoffer_tx is None:
            raise CallStateError(f"call {call_id} has no re-INVITE waiting for an answer")
        response = self.builder.response(call.reoffer_tx.request, 200, to_tag=call.local_tag)
        self.builder.add_contact(response)
        self.builder.add_body(response, sdp)
        call.local_sdp = sdp
        self.timers.accept(call, call.reoffer_tx.request, response, now)  # RFC 4028 §9, §10
        call.reoffer_tx.send_response(response, now)

    def reject_reoffer(self, call_id: str, code: int, now: float) -> None:
        """Refuse the re-INVITE waiting for an answer (RFC 3261 §14.2: an offer we cannot
        accept gets 488 Not Acceptable Here, and the session stays as it was)."""
        call = self.calls.get(call_id)
        if call.reoffer_tx is None:
            raise CallStateError(f"call {call_id} has no re-INVITE waiting for an answer")
        if not 400 <= code <= 699:
            raise ValueError(f"re-INVITE reject code {code} is not a 4xx-6xx final response")
        transaction, call.reoffer_tx = call.reoffer_tx, None  # not pending: no glare (§14.1)
        transaction.send_response(
            self.builder.response(transaction.request, code, to_tag=call.local_tag), now
        )

    # -- transfer commands (RFC 3515) ----------------------------------------------------------
    def refer(self, call_id: str, target: str, now: float, replaces: str | None = None) -> None:
        """Ask the peer to call `target` (blind transfer): REFER with Refer-To (§2.4.1); with
        `replaces`, in place of our dialog with the target (attended, RFC 5589 §7)."""
        call = self.calls.get(call_id)
        if call.dialog is None or call.state != SipCallState.CONFIRMED or call.ended:
            raise CallStateError(f"call {call_id} is {call.state}, REFER needs a confirmed dialog")
        if call.refer_sent:
            raise CallStateError(f"call {call_id} already has a transfer in progress")
        uri, _ = refer_target([f"<{target.strip('<>')}>"])
        request = call.dialog.build_request("REFER")
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        self.builder.add_contact(request)
        if replaces is not None:  # RFC 3891 §6.1: escaped into the Refer-To URI's headers
            escaped = parse_replaces(replaces).as_uri_header()
            request.headers.add("Refer-To", f"<{uri}?Replaces={escaped}>")
        else:
            request.headers.add("Refer-To", f"<{uri}>")
        if not self.builder.privacy.enabled:  # RFC 3892: who asked; left out with privacy
            request.headers.add("Referred-By", call.dialog.local_uri)
        call.refer_sent = True
        call.refer_deadline = now + 64 * self.builder.config.t1  # until the first NOTIFY (Timer F)
        self.transactions.start_client(request, self.builder.dialog_addr(call), now)

    def notify_transfer(self, call_id: str, status: int, reason: str, now: float) -> None:
        """Report the new call's progress to the transferor (RFC 3515 §2.4.5); a final status
        (>= 200) ends the subscription."""
        call = self.calls.get(call_id)
        if call.refer_received is None:
            raise CallStateError(f"call {call_id} has no REFER waiting for a NOTIFY")
        self._send_refer_notify(call, status, reason, now)

    # -- receiving in-dialog requests ----------------------------------------------------------
    def receive_in_dialog(
        self, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> None:
        call = self.calls.find(request.call_id)
        dialog = call.dialog if call else None
        if (
            call is None
            or dialog is None
            or request.to.tag != dialog.local_tag
            or (request.from_.tag != dialog.remote_tag)
        ):
            transaction.send_response(self.builder.response(request, 481), now)  # §12.2.2
            return
        if not dialog.accept_remote_cseq(request.cseq.number):
            transaction.send_response(self.builder.response(request, 500), now)
            return
        method = request.method
        if method == "BYE":
            transaction.send_response(self.builder.response(request, 200), now)
            if not call.ended:
                self.calls.end(call, "remote_hangup", None)
        elif method == "INVITE":
            if call.reinvite_tx is not None or call.reoffer_tx is not None:  # §14.2 glare
                response = self.builder.response(request, 491)
                response.headers.add("Retry-After", "1")
                transaction.send_response(response, now)
                return
            if (self.builder.reject_if_unsupported(request, transaction, now)
                    or self.timers.refuse_too_small(request, transaction, now)):
                return
            dialog.update_target(request)
            call.reoffer_tx = transaction
            self._emit(ev.Reoffer(call.call_id, request.body))
        elif method == "REFER":
            self._receive_refer(call, request, transaction, now)
        elif method == "NOTIFY":
            self._receive_notify(call, request, transaction, now)
        elif method in ("OPTIONS", "INFO"):
            transaction.send_response(self.builder.response(request, 200), now)
        else:
            transaction.send_response(self.builder.response(request, 501), now)

    def _receive_refer(
        self, call: Call, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> None:
        """RFC 3515 §2.4.2-§2.4.5: 202, then at once the first NOTIFY (100 Trying)."""
        try:
            target, replaces = refer_target(request.headers.get_all("Refer-To"))
        except ReferError as error:
            transaction.send_response(
                self.builder.response(request, error.status, reason=safe_reason(error.status,
                                                                          error.reason)), now
            )
            return
        if call.ended or call.state != SipCallState.CONFIRMED:
            transaction.send_response(self.builder.response(request, 481), now)
            return
        if call.refer_received is not None:
            # One transfer at a time: the first one's outcome is still being reported.
            response = self.builder.response(request, 491)
            response.headers.add("Retry-After", "5")
            transaction.send_response(response, now)
            return
        transaction.send_response(self.builder.response(request, 202), now)
        call.refer_received = request.cseq.number
        self._send_refer_notify(call, 100, "Trying", now)
        self._emit(ev.TransferRequested(call.call_id, str(target),
                                        str(replaces) if replaces is not None else None))

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
                self.builder.response(request, error.status, reason=safe_reason(error.status,
                                                                          error.reason)), now
            )
            return
        if not call.refer_sent:  # RFC 6665 §4.1.3: no such subscription
            transaction.send_response(self.builder.response(request, 481), now)
            return
        transaction.send_response(self.builder.response(request, 200), now)
        final = notify.status >= 200 or notify.terminated
        if final:
            call.refer_sent = False
            call.refer_deadline = None
        else:
            call.refer_deadline = now + (notify.expires or SUBSCRIPTION_SECONDS)
        self._emit(ev.TransferNotify(call.call_id, notify.status, notify.reason, final))

    # -- sending in-dialog requests ------------------------------------------------------------
    def send_in_dialog(self, call: Call, method: str, now: float) -> None:
        if call.dialog is None:
            return
        request = call.dialog.build_request(method)
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        self.transactions.start_client(request, self.builder.dialog_addr(call), now)

    def send_reinvite(self, call: Call, sdp: bytes, now: float) -> None:
        assert call.dialog is not None
        request = call.dialog.build_request("INVITE")
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        self.builder.add_contact(request)
        self.builder.add_body(request, sdp)
        self.timers.offer(call, request)  # RFC 4028 §7.4: every re-INVITE is a refresh
        call.local_sdp = sdp
        addr = self.builder.dialog_addr(call)
        call.reinvite_tx = self.transactions.start_client(request, addr, now)

    def _send_refer_notify(self, call: Call, status: int, reason: str, now: float) -> None:
        if call.dialog is None or call.refer_received is None:
            return
        request = call.dialog.build_request("NOTIFY")
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        self.builder.add_contact(request)  # RFC 6665 §4.2.2: a NOTIFY carries Contact
        # RFC 3515 §2.4.6: id= is the REFER's CSeq, so several REFERs in a dialog stay apart.
        request.headers.add("Event", f"refer;id={call.refer_received}")
        request.headers.add("Subscription-State", subscription_state(status))
        request.body = sipfrag(status, reason)
        request.headers.add("Content-Type", SIPFRAG)
        if status >= 200:
            call.refer_received = None
        self.transactions.start_client(request, self.builder.dialog_addr(call), now)

    # -- its timers (the user agent's timer fans out to it, wakeups.py) -------------------------
    def get_timer(self) -> float | None:
        """The earliest of the calls' re-INVITE retries (§14.1) and REFER subscription ends."""
        deadlines = [deadline for call in self.calls.calls.values()
                     for deadline in (call.reinvite_retry_at, call.refer_deadline)
                     if deadline is not None]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        for call in list(self.calls.calls.values()):
            if call.reinvite_retry_at is not None and call.reinvite_retry_at <= now:
                call.reinvite_retry_at = None
                if call.reinvite_sdp is not None and not call.ended:
                    self.send_reinvite(call, call.reinvite_sdp, now)
            if call.refer_deadline is not None and call.refer_deadline <= now:
                # RFC 6665 §4.1.2.4: no NOTIFY before the subscription expired: it is over.
                call.refer_deadline = None
                if call.refer_sent:
                    call.refer_sent = False
                    self._emit(ev.TransferFailed(call.call_id, 408))

    # -- results of our in-dialog requests -----------------------------------------------------
    def reinvite_result(self, call: Call, response: SipResponse | None, now: float) -> None:
        refresh, call.refresh_pending = call.refresh_pending, call.refresh_pending and (
            response is not None and response.status < 200)
        if response is None or response.status in (408, 481):  # §14.1: the dialog is gone
            call.reinvite_tx = None
            if not call.ended:
                self.send_in_dialog(call, "BYE", now)
                # RFC 4028 §10: our refresh found nobody: the far end is gone.
                reason = "connection_lost" if refresh else (
                    "timeout" if response is None or response.status == 408 else "failed")
                self.calls.end(call, reason, 408 if response is None else response.status)
            return
        status = response.status
        if status < 200:
            return
        previous = call.reinvite_tx.request if call.reinvite_tx else None
        call.reinvite_tx = None
        if status < 300:
            if call.dialog is not None:
                ack = call.dialog.build_request("ACK", cseq=response.cseq.number)
                try:
                    call.dialog.update_target(response)
                except SipSyntaxError:
                    # A non-SIP Contact: keep the old target.
                    self.builder.stats.malformed_dropped += 1
                self.builder.add_via(ack)
                ack.headers.add("Max-Forwards", "70")
                call.acks[response.cseq.number] = ack.serialize()
                self._send(call.acks[response.cseq.number], self.builder.dialog_addr(call))
            call.reinvite_sdp = None
            self.timers.answered(call, response, now)  # RFC 4028 §7.2, §10: refreshed
            if not refresh:  # a refresh offered the session as it was: nothing to negotiate
                self._emit(ev.CallAnswered(call.call_id, response.body))
        elif status == 422 and previous is not None and self.timers.retry_after_422(call,
                                                                                 response):
            call.refresh_pending = refresh  # RFC 4028 §7.4: the same offer, a larger Min-SE
            self.send_reinvite(call, previous.body, now)
        elif status == 491:
            # §14.1: the Call-ID owner waits 2.1-4 s, the other side 0-2 s, then tries again.
            low, high = (2.1, 4.0) if call.role == "uac" else (0.0, 2.0)
            call.reinvite_retry_at = now + self._rng.uniform(low, high)
            call.refresh_pending = refresh
        elif status in (401, 407) and (retry := self.builder.with_credentials(
                call, previous, response)) is not None:
            call.refresh_pending = refresh
            call.reinvite_tx = self.transactions.start_client(retry,
                                                              self.builder.dialog_addr(call), now)
        else:
            call.reinvite_sdp = None
            if not refresh:  # a failed refresh: the session expires unless the peer refreshes
                self._emit(ev.ReofferFailed(call.call_id, status))

    def refer_result(self, call: Call, response: SipResponse | None) -> None:
        """RFC 3515 §2.4.2: 2xx accepts (NOTIFYs follow); anything else, or no answer, fails."""
        if not call.refer_sent:
            return  # the final NOTIFY overtook the 202
        if response is not None and response.status < 300:
            self._emit(ev.TransferAccepted(call.call_id))
            return
        call.refer_sent = False
        call.refer_deadline = None
        self._emit(ev.TransferFailed(call.call_id, 408 if response is None
                                              else response.status))


__all__ = ["InDialogRequests"]
