"""Setting up and tearing down calls with INVITE (RFC 3261 §13, §9, §8.1.3.4).

The caller side (UAC) sends the INVITE to the account's proxy or straight to the target, acks
a 2xx itself (§13.2.2.4), CANCELs only after a provisional response (§9.1), retries once with
credentials on 401/407 (§22.2) and follows 3xx redirects by q-value without looping. The callee
side (UAS) answers 100 at once, reports the call, rings, answers or rejects, and honours CANCEL
with 487 (§9.2). Re-INVITE and the other in-dialog requests live in `in_dialog.py`.

`InviteSessions` is one object of the user agent, given the message builder, the transaction
table (CANCEL matches its INVITE server transaction there), the call table, the in-dialog part
(a hang-up after the answer is a BYE) and callables to report events and send a datagram
outside any transaction (the ACK for a 2xx, §13.2.2.4).
"""

from __future__ import annotations

from collections.abc import Callable

from deskphone.sip import events as ev
from deskphone.sip.account import Account
from deskphone.sip.builder import MessageBuilder, uri_addr
from deskphone.sip.call import Addr, Call, CallStateError, CallTable, SipCallState, end_reason
from deskphone.sip.dialog import Dialog
from deskphone.sip.in_dialog import InDialogRequests
from deskphone.sip.message import SipRequest, SipResponse
from deskphone.sip.replaces import ReplacesError, match_dialog, parse_replaces
from deskphone.sip.session_timer import SessionTimers
from deskphone.sip.table import TransactionTable
from deskphone.sip.transaction import ServerTransaction, TxState, transaction_key
from deskphone.sip.uri import NameAddress, SipSyntaxError, SipUri, Uri, parse_uri, quote

DIRECT = "direct"  # `invite(..., account=DIRECT)`: no account, the request goes to the target


class InviteSessions:
    """The INVITE client and server side of each call."""

    def __init__(self, builder: MessageBuilder, transactions: TransactionTable,
                 calls: CallTable, in_dialog: InDialogRequests, timers: SessionTimers,
                 emit: Callable[[ev.Event], None], send: Callable[[bytes, Addr], None]):
        self.builder = builder
        self.timers = timers
        self.transactions = transactions
        self.calls = calls
        self.in_dialog = in_dialog
        self._emit = emit
        self._send = send

    # -- call commands -------------------------------------------------------------------------
    def invite(self, target: str, sdp: bytes, now: float, account: str | None = None,
               replaces: str | None = None) -> str:
        chosen = self._account(account)
        uri = self._target_uri(target, chosen)
        call_id = self.builder.privacy.new_call_id(self.builder.config.local_host)
        local_tag = self.builder.privacy.new_tag()
        request = SipRequest(method="INVITE", uri=uri)
        request.headers.add("From", f"{self._local_identity(chosen)};tag={local_tag}")
        request.headers.add("To", f"<{uri}>")
        request.headers.add("Call-ID", call_id)
        request.headers.add("CSeq", "1 INVITE")
        if replaces is not None:  # attended transfer's new call (RFC 3891 §4, RFC 5589 §7)
            request.headers.add("Replaces", str(parse_replaces(replaces)))
        self.builder.add_body(request, sdp)
        addr = self._destination(uri, chosen)
        call = Call(call_id, "uac", request, addr, chosen, local_tag=local_tag, local_sdp=sdp)
        call.tried_targets.append(str(uri))
        self.calls.add(call)
        self._send_invite(call, now)
        return call_id

    def ringing(self, call_id: str, now: float) -> None:
        if call_id not in self.calls:
            return  # already ended and freed (a CANCEL overtook the command)
        call = self.calls.get(call_id, "uas")
        if call.state in (SipCallState.CALLING, SipCallState.EARLY):
            call.state = SipCallState.EARLY
            self._respond_call(call, 180, now)

    def answer(self, call_id: str, sdp: bytes, now: float) -> None:
        call = self.calls.get(call_id, "uas")
        if call.state not in (SipCallState.CALLING, SipCallState.EARLY):
            raise CallStateError(f"call {call_id} is {call.state}, cannot answer")
        call.state = SipCallState.ANSWERED
        call.dialog = Dialog.from_uas(call.invite, call.local_tag)
        call.local_sdp = sdp
        self._respond_call(call, 200, now, sdp)

    def reject(self, call_id: str, code: int, now: float) -> None:
        if not 400 <= code <= 699:
            raise ValueError(f"reject code {code} is not a 4xx-6xx final response")
        if call_id not in self.calls:
            return  # already ended and freed (a CANCEL overtook the command)
        call = self.calls.get(call_id, "uas")
        if call.state in (SipCallState.CALLING, SipCallState.EARLY):
            self._respond_call(call, code, now)
            self.calls.mark_ended(call)  # freed once the INVITE transaction's timers ran out

    def redirect(self, call_id: str, contact: str, now: float) -> None:
        """Send a ringing caller elsewhere: 302 Moved Temporarily with the new target as its
        Contact (RFC 3261 §21.3.3, §8.1.3.4: the caller's UA sends a new INVITE there)."""
        if call_id not in self.calls:
            return
        call = self.calls.get(call_id, "uas")
        if call.state in (SipCallState.CALLING, SipCallState.EARLY):
            self._respond_call(call, 302, now, contact=contact)
            self.calls.mark_ended(call)

    def hangup(self, call_id: str, now: float) -> None:
        call = self.calls.find(call_id)
        if call is None or call.ended:
            return
        if call.role == "uas" and call.state in (SipCallState.CALLING, SipCallState.EARLY):
            self._respond_call(call, 603, now)  # refusing an offer we never answered
        elif call.role == "uac" and call.state in (SipCallState.CALLING, SipCallState.EARLY):
            if call.got_provisional:
                self._send_cancel(call, now)
            else:
                call.cancel_pending = True  # §9.1: CANCEL only after a provisional response
                self.calls.end(call, "local_hangup", None, keep=True)
                return
        elif call.dialog is not None:
            self.in_dialog.send_in_dialog(call, "BYE", now)
        keep = call.role == "uac" and call.state != SipCallState.CONFIRMED
        self.calls.end(call, "local_hangup", None, keep=keep)

    # -- receiving INVITE, CANCEL and ACK (UAS) ------------------------------------------------
    def receive_invite(
        self, request: SipRequest, transaction: ServerTransaction, addr: Addr, now: float
    ) -> None:
        if self.builder.reject_if_unsupported(request, transaction, now):
            return
        if request.call_id in self.calls:  # a forked or looped copy of a call we know (§8.2.2.2)
            transaction.send_response(
                self.builder.response(request, 482, to_tag=self.builder.privacy.new_tag()), now
            )
            return
        refused, replaced = self._replaced_call(request, transaction, now)
        if refused or self.timers.refuse_too_small(request, transaction, now):
            return
        # The dialog it would create must be addressable (a SIP Contact and Record-Route), or
        # answering it later could never reach the caller: 400 now, from the caller's guard.
        Dialog.from_uas(request, "")
        transaction.send_response(self.builder.response(request, 100), now)  # §17.2.1
        call = Call(request.call_id, "uas", request, addr, local_tag=self.builder.privacy.new_tag())
        call.invite_tx = transaction
        self.calls.add(call)
        remote = request.from_
        self._emit(
            ev.IncomingCall(call.call_id, str(remote.uri), remote.display_name, request.body,
                            replaces=replaced)
        )

    def _replaced_call(self, request: SipRequest, transaction: ServerTransaction,
                       now: float) -> tuple[bool, str | None]:
        """RFC 3891 §3: (refused, the Call-ID the INVITE's Replaces names, None if it has none).
        Refused: 400 for two or a malformed one, 481/486/603 as match_dialog says."""
        values = request.headers.get_all("Replaces")
        if not values:
            return False, None
        try:
            if len(values) != 1:
                raise ReplacesError(400, f"expected one Replaces, got {len(values)}")
            return False, match_dialog(self.calls.calls.values(),
                                       parse_replaces(values[0])).call_id
        except ReplacesError as error:
            transaction.send_response(self.builder.response(
                request, error.status, reason=error.reason,
                to_tag=self.builder.privacy.new_tag()), now)
            return True, None

    def receive_cancel(self, cancel: SipRequest, addr: Addr, now: float) -> None:
        """§9.2: match the INVITE server transaction by branch; 200 the CANCEL, 487 the INVITE."""
        transaction = self.transactions.start_server(cancel, addr, now)
        invite_tx = self.transactions.get(transaction_key(cancel, "INVITE"))
        if not isinstance(invite_tx, ServerTransaction):
            transaction.send_response(self.builder.response(cancel, 481), now)
            return
        call = self.calls.find(cancel.call_id)
        tag = call.local_tag if call else None
        transaction.send_response(self.builder.response(cancel, 200, to_tag=tag), now)
        if invite_tx.state is TxState.PROCEEDING and call is not None and not call.ended:
            invite_tx.send_response(self.builder.response(invite_tx.request, 487, to_tag=tag), now)
            self.calls.end(call, "cancelled", 487)

    def receive_2xx_ack(self, ack: SipRequest, now: float) -> None:
        call = self.calls.find(ack.call_id)
        if call is None or call.dialog is None or ack.from_.tag != call.dialog.remote_tag:
            self.builder.stats.requests_unmatched += 1
            return
        for transaction in (call.invite_tx, call.reoffer_tx):
            if (
                isinstance(transaction, ServerTransaction)
                and transaction.request.cseq.number == ack.cseq.number
            ):
                first = transaction.state is TxState.ACCEPTED and "timer_G2xx" in transaction.timers
                transaction.receive_request(ack, now)
                if transaction is call.reoffer_tx:
                    # §14.2: once ACKed the re-INVITE is no longer pending, so a new one (resume
                    # after hold) is not glare; the transaction itself lives on to absorb copies.
                    call.reoffer_tx = None
                if transaction is call.invite_tx and call.state == SipCallState.ANSWERED and first:
                    call.state = SipCallState.CONFIRMED
                    self._emit(ev.CallEstablished(call.call_id))
                return
        self.builder.stats.retransmissions_absorbed += 1

    def _respond_call(self, call: Call, status: int, now: float, sdp: bytes | None = None,
                      contact: str | None = None) -> None:
        transaction = call.invite_tx
        if not isinstance(transaction, ServerTransaction):
            return
        response = self.builder.response(call.invite, status, to_tag=call.local_tag)
        if contact is not None:  # a 3xx: where to call instead (§20.10)
            response.headers.add("Contact", f"<{contact}>")
        if status < 300:
            self.builder.add_contact(response)
            if call.invite.headers.get_all("Record-Route"):
                for value in call.invite.headers.raw("Record-Route"):
                    response.headers.add("Record-Route", value)
        if sdp is not None:
            self.builder.add_body(response, sdp)
        if 200 <= status < 300:
            self.timers.accept(call, call.invite, response, now)  # RFC 4028 §9
        transaction.send_response(response, now)

    # -- sending INVITE, CANCEL and ACK (UAC) --------------------------------------------------
    def _send_invite(self, call: Call, now: float) -> None:
        self.builder.add_via(call.invite, replace=True)
        self.builder.add_contact(call.invite)
        call.invite.headers.set("Max-Forwards", "70")
        self.timers.offer(call, call.invite)  # RFC 4028 §7.1
        call.invite_tx = self.transactions.start_client(call.invite, call.addr, now)

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
        self.transactions.start_client(cancel, call.addr, now)

    def _build_2xx_ack(self, call: Call) -> SipRequest:
        """§13.2.2.4: a new transaction, the INVITE's CSeq number, via the dialog's route set."""
        assert call.dialog is not None
        ack = call.dialog.build_request("ACK", cseq=call.invite.cseq.number)
        self.builder.add_via(ack)
        ack.headers.add("Max-Forwards", "70")
        for name in ("Authorization", "Proxy-Authorization"):
            for value in call.invite.headers.raw(name):
                ack.headers.add(name, value)
        return ack

    # -- the INVITE outcome (UAC) --------------------------------------------------------------
    def invite_result(self, call: Call, response: SipResponse | None, now: float) -> None:
        if response is None:  # Timer B
            if not call.ended:
                self.calls.end(call, "timeout", 408)
            return
        status = response.status
        if status < 200:
            call.got_provisional = True
            if call.cancel_pending:
                call.cancel_pending = False
                self._send_cancel(call, now)
            elif status > 100 and not call.ended:
                call.state = SipCallState.EARLY
                self._emit(
                    ev.CallProgress(call.call_id, status, response.reason, response.body or None)
                )
        elif status < 300:
            if call.dialog is None or call.state != SipCallState.CONFIRMED:
                try:
                    call.dialog = Dialog.from_uac(call.invite, response)
                except SipSyntaxError:
                    # A 2xx whose Contact or Record-Route is no SIP URI cannot be ACKed or
                    # ended with BYE: the call fails here (502: the far side answered badly).
                    self.builder.stats.malformed_dropped += 1
                    if not call.ended:
                        self.calls.end(call, "failed", 502)
                    return
                call.state = SipCallState.CONFIRMED
                self.timers.answered(call, response, now)  # RFC 4028 §7.2
                call.ack = self._build_2xx_ack(call).serialize()
                call.acks[call.invite.cseq.number] = call.ack
                self._send(call.ack, self.builder.dialog_addr(call))
                if call.ended:  # we hung up while the 200 was in flight (§15)
                    self.in_dialog.send_in_dialog(call, "BYE", now)
                else:
                    self._emit(ev.CallAnswered(call.call_id, response.body))
            elif call.ack is not None:
                self._send(call.ack, self.builder.dialog_addr(call))
        elif status in (401, 407) and not call.ended:
            retry = self.builder.with_credentials(call, call.invite, response)
            if retry is None:
                self.calls.end(call, "failed", status)
            else:
                call.invite = retry
                self._send_invite(call, now)
        elif 300 <= status < 400 and not call.ended:
            self._follow_redirect(call, response, now)
        elif status == 422 and not call.ended and self.timers.retry_after_422(call, response):
            call.invite = self.builder.next_invite(call.invite)  # §7.4: again, larger Min-SE
            call.got_provisional = False
            self._send_invite(call, now)
        elif (not call.ended and call.alternates
              and call.redirects < self.builder.config.max_redirects):
            self._try_next_target(call, now)  # §8.1.3.4: the next contact of the redirect
        elif not call.ended:
            self.calls.end(call, end_reason(status), status)
        elif call.ended and status >= 300:
            self.calls.discard(call.call_id)

    def _follow_redirect(self, call: Call, response: SipResponse, now: float) -> None:
        """§8.1.3.4: try the Contacts of a 3xx, highest q first, at most max_redirects new
        INVITEs per call; a Contact already tried (a redirect loop) is skipped."""
        try:
            contacts = response.contacts
        except SipSyntaxError:
            contacts = []
        self._emit(ev.Redirect(call.call_id, tuple(str(c.uri) for c in contacts)))
        usable = [c for c in contacts if isinstance(c.uri, SipUri)]
        usable.sort(key=lambda c: -_q_value(c))  # stable: equal q keeps the server's order
        fresh = [c.uri for c in usable if str(c.uri) not in call.tried_targets]
        call.alternates = fresh + [u for u in call.alternates if u not in fresh]
        if not call.alternates or call.redirects >= self.builder.config.max_redirects:
            call.alternates = []
            self.calls.end(call, "failed", response.status)
            return
        self._try_next_target(call, now)

    def _try_next_target(self, call: Call, now: float) -> None:
        target = call.alternates.pop(0)
        call.redirects += 1
        call.tried_targets.append(str(target))
        retry = self.builder.next_invite(call.invite)
        retry.uri = target  # §8.1.3.4: only the Request-URI changes; To, From, Call-ID stay
        call.invite = retry
        call.got_provisional = False
        call.addr = self._destination(target, call.account)
        self._send_invite(call, now)

    # -- who we call as, and where the INVITE goes ---------------------------------------------
    def _account(self, name: str | None) -> Account | None:
        if name == DIRECT:  # straight to the target (LAN peer, IP address): no proxy, no auth
            return None
        if name is None:
            return self.builder.config.accounts[0] if self.builder.config.accounts else None
        for account in self.builder.config.accounts:
            if account.name == name:
                return account
        names = [a.name for a in self.builder.config.accounts]
        raise KeyError(f"no account named {name!r} (have {names})")

    def _target_uri(self, target: str, account: Account | None) -> Uri:
        if ":" in target and target.split(":", 1)[0].lower() in ("sip", "sips", "tel"):
            return parse_uri(target.strip("<>"))
        if account is None:
            raise ValueError(f"target {target!r} is not a SIP URI and no account gives it a domain")
        return parse_uri(f"sip:{target}@{account.domain}")

    def _destination(self, uri: Uri, account: Account | None) -> Addr:
        if account is not None:
            return account.registrar_addr  # the registrar doubles as outbound proxy
        return uri_addr(uri)

    def _local_identity(self, account: Account | None) -> str:
        # The user part stays even with privacy: registrars match it against the account's
        # authentication user (docs/privacy.md); the display name is left out (§20.20).
        user = account.user if account else self.builder.config.user
        config = self.builder.config
        host = account.domain if account else f"{config.local_host}:{config.local_port}"
        display = self.builder.privacy.display_name(self.builder.config.display_name)
        name = f"{quote(display)} " if display else ""
        return f"{name}<sip:{user}@{host}>"


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


__all__ = ["DIRECT", "InviteSessions"]
