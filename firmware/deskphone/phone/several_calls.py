"""The phone machine's handlers for several calls at once (issue 15): call waiting and swap.

A second caller during a call waits: the call-waiting tone plays in the earpiece (never the
ringer, the person is on the phone) and the screen names the caller and says which call is
heard and how secure that one is. The swap key (D, `ctl swap`) or `ctl answer ID` answers it
and holds the current call; swapping again brings the held call back. When the call in the
earpiece ends, a waiting caller rings like any incoming call and a held call leaves the phone
in `held`: its reminder ring sounds while the handset is down, and lifting it resumes the call.

These are rows of the one table (`transitions.py`) like every other handler: `SeveralCalls` is
a base class of `PhoneMachine`, kept apart so machine.py stays one concept per file. It changes
the call state only through these handlers; `other_calls.py` keeps each other call's record
(and its own `CallSecurity`), and the call layer does the SIP (RFC 3264 §8.4 hold re-offers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from deskphone.phone import events as ev
from deskphone.phone.call_security import CallSecurity
from deskphone.phone.other_calls import CallRecord, OtherCalls
from deskphone.phone.screens import HeldScreen
from deskphone.phone.settings import MachineSettings
from deskphone.phone.vocabulary import IN_CALL_STATES, SWAP_KEY, CallState

if TYPE_CHECKING:
    from deskphone.phone.transfer import BlindTransfer

Commands = list[ev.Command]


class _Machine(Protocol):
    """What these handlers use of the machine (deskphone.phone.machine.PhoneMachine)."""

    settings: MachineSettings
    state: CallState
    others: OtherCalls
    off_hook: bool
    held: bool
    call_id: str
    peer: str | None
    incoming_call_id: str | None
    call_security: CallSecurity
    answered_at: float | None
    ignored: int
    transfer: BlindTransfer
    _now: float

    def _reset_call(self) -> None: ...
    def _show(self, screen: object) -> ev.ShowScreen: ...
    def _go_idle(self) -> Commands: ...
    def _ring_for(self, event: ev.CallArrived, since: float) -> Commands: ...
    def _answer(self, event: ev.Event) -> Commands: ...
    def _refresh_call_screen(self, only_if_changed: bool = False) -> Commands: ...
    def _set_timer(self, kind: str, at: float) -> None: ...
    # and this class's own, reached through the same `self`
    def _go_idle_or_held(self) -> Commands: ...
    def _refresh_current(self) -> Commands: ...
    def _held_screen(self) -> HeldScreen: ...
    def _take_over(self, record: CallRecord) -> None: ...
    def _bring_back(self, record: CallRecord) -> Commands: ...
    def _swap(self, event: ev.Event) -> Commands: ...


class SeveralCalls:
    # What these handlers set on the machine (PhoneMachine.__init__ gives the values).
    state: CallState
    call_id: str
    peer: str | None
    call_security: CallSecurity
    answered_at: float | None
    def calls(self: _Machine) -> list[dict[str, object]]:
        """Every call: the one in the earpiece (or ringing), then the waiting and held ones."""
        listed = []
        if self.state in IN_CALL_STATES or self.state in (CallState.RINGING, CallState.CALLING):
            state = {CallState.RINGING: "ringing", CallState.CALLING: "calling"}.get(
                self.state, "on_hold" if self.held else "active")
            me = CallRecord(self.call_id or self.incoming_call_id or "", self.peer or "", state,
                            self._now, self.call_security)
            listed.append(me.info(hearing=self.state in IN_CALL_STATES))
        return listed + self.others.info()

    def _other_call_event(self: _Machine, event: ev.Event) -> Commands:
        record = self.others.records[getattr(event, "call_id", "")]
        if isinstance(event, ev.CallFinished):  # the waiting caller gave up, a held party left
            self.others.take(record.call_id)
            if self.state is CallState.HELD:
                return self._go_idle_or_held()
            quiet = [ev.PlayTone(None)] if record.role == "waiting" else []
            return [*quiet, *self._refresh_current()]
        if self.others.on_security(record, event):  # flagged at once, on the line naming it
            return self._refresh_current()
        return []

    def _refresh_current(self: _Machine) -> Commands:
        if self.state is CallState.HELD:
            return [self._show(self._held_screen())]
        return self._refresh_call_screen() if self.state in IN_CALL_STATES else []

    def _held_screen(self: _Machine) -> HeldScreen:
        record = self.others.held()
        assert record is not None, "the held state always has a held call"
        return HeldScreen(peer=record.peer, security=record.security.level.value,
                          off_hook=self.off_hook)

    def _go_idle_or_held(self: _Machine) -> Commands:
        """The call in the earpiece is gone: a waiting caller now rings, a held call reminds."""
        waiting, held = self.others.waiting(), self.others.held()
        if waiting is not None:
            self.others.take(waiting.call_id)
            return self._ring_for(ev.CallArrived(waiting.call_id, waiting.caller,
                                                 waiting.display_name), waiting.since)
        if held is None:
            return self._go_idle()
        self._reset_call()
        self.state = CallState.HELD
        # The reminder ring: a call left on hold with the handset down must not be forgotten.
        return [ev.PlayTone(None), ev.Ring(not self.off_hook), self._show(self._held_screen())]

    def _call_waiting(self: _Machine, event: ev.CallArrived) -> Commands:
        self.others.add_waiting(event, self._now)
        # In the earpiece, not the ringer: the person is on the phone (ITU-T E.182 §5).
        return [ev.PlayTone("call_waiting"), *self._refresh_call_screen()]

    def _take_over(self: _Machine, record: CallRecord) -> None:
        """`record`'s call becomes the one in the earpiece; the current one, if any, is held."""
        self.others.take(record.call_id)
        if self.state in IN_CALL_STATES:
            self.others.hold(self.call_id, self.peer or "", self.call_security,
                             self.answered_at, self._now)
        self._reset_call()
        self.call_id, self.peer, self.call_security = record.call_id, record.peer, record.security
        self.answered_at = record.answered_at if record.role == "held" else self._now
        self.state = CallState.IN_CALL
        self._set_timer("refresh", self._now + 1.0)

    def _swap(self: _Machine, _: ev.Event) -> Commands:
        record = self.others.waiting() or self.others.held()
        if record is None:
            self.ignored += 1
            return []
        return self._bring_back(record)

    def _bring_back(self: _Machine, record: CallRecord) -> Commands:
        answering = record.role == "waiting"
        self._take_over(record)
        # A mismatch found while it was held sounds now that it is heard (issue 15 item 2).
        tone = "mitm" if record.security.level.value == "mismatch" else None
        action: ev.Command = ev.AnswerCall(record.call_id) if answering else ev.SwapTo(
            record.call_id)
        return [ev.Ring(False), ev.PlayTone(tone), action, *self._refresh_call_screen()]

    def _answer_other(self: _Machine, event: ev.AnswerRequested) -> Commands:
        record = self.others.records.get(event.call_id)
        if record is None:
            self.ignored += 1
            return []
        return self._bring_back(record)

    def _answer_ringing(self: _Machine, event: ev.AnswerRequested) -> Commands:
        if event.call_id != self.incoming_call_id:
            self.ignored += 1
            return []
        return self._answer(event)

    def _ringing_key(self: _Machine, event: ev.KeyPressed) -> Commands:
        # Handset already up (the call before it ended): the swap key answers.
        return self._answer(event) if event.key == SWAP_KEY and self.off_hook else []

    def _remind(self: _Machine, _: ev.HookOn) -> Commands:
        return [ev.Ring(True), self._show(self._held_screen())]

    def _transfer_attended(self: _Machine, event: ev.AttendedTransferRequested) -> Commands:
        record = self.others.records.get(event.call_id)
        if record is None or record.role != "held":
            self.ignored += 1
            return []
        self.state = CallState.TRANSFERRING
        self.transfer.send(record.peer)
        self.transfer.handed_over = record.peer
        return [ev.TransferAttended(record.call_id), *self._refresh_call_screen()]

    def _call_replaced(self: _Machine, event: ev.CallReplaced) -> Commands:
        # We are the transfer's target: a new call, with its own ZRTP and SAS, stands in.
        if event.old_call_id == self.call_id:
            self.call_id, self.peer = event.new_call_id, event.peer
            self.call_security = CallSecurity()
            self.answered_at = self._now
            return [ev.PlayTone(None), *self._refresh_call_screen()]
        record = self.others.take(event.old_call_id)
        if record is None:
            self.ignored += 1
            return []
        self.others.hold(event.new_call_id, event.peer, CallSecurity(), self._now, self._now)
        return self._refresh_current()

    def _held_key(self: _Machine, event: ev.KeyPressed) -> Commands:
        return self._swap(event) if event.key == SWAP_KEY else []


