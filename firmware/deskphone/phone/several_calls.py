"""The phone machine's handlers for several calls at once (issue 15): call waiting and swap.

A second caller during a call waits: the call-waiting tone plays in the earpiece (never the
ringer, the person is on the phone) and the screen names the caller and says which call is
heard and how secure that one is. The swap key (D, `ctl swap`) or `ctl answer ID` answers it
and holds the current call; swapping again brings the held call back. When the call in the
earpiece ends, a waiting caller rings like any incoming call and a held call leaves the phone
in `held`: its reminder ring sounds while the handset is down, and lifting it resumes the call.

These are rows of the one table (`transitions.py`) like every other handler: `SeveralCalls` is
an object the machine owns (`machine.several`), reaching the machine only through its public
call state and helpers (`CallHost`, call_host.py). It changes the call state only through
these handlers; `other_calls.py` keeps each other call's record (and its own `CallSecurity`),
and the call layer does the SIP (RFC 3264 §8.4 hold re-offers).

A 3-way conference (issue 15 item 4) joins the held call to the one in the earpiece: '#' or
`ctl conference`; the call layer mixes them (calls/conference.py). The held record's role
becomes "conference": its security still its own, shown beside the current call's on the
conference screen. When one leg ends the other is an ordinary call in the earpiece; hanging up
ends both, or ([phone] conference_hangup = "join") hands the other leg to the current one by
attended transfer first.
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.call_security import CallSecurity
from deskphone.phone.history_view import TrackedCall
from deskphone.phone.other_calls import CONFERENCE, HELD, CallRecord
from deskphone.phone.screens import ConferenceLeg, HeldScreen
from deskphone.phone.vocabulary import IN_CALL_STATES, SWAP_KEY, CallState, Security

Commands = list[ev.Command]


class SeveralCalls:
    """Owned by the machine (`machine.several`); its handlers are rows `several.NAME` of the
    table. The records of the other calls are the machine's `others` (phone/other_calls.py)."""

    def __init__(self, machine: CallHost) -> None:
        self.m = machine

    def calls(self) -> list[dict[str, object]]:
        """Every call: the one in the earpiece (or ringing), then the waiting and held ones."""
        listed = []
        if self.m.state in IN_CALL_STATES or self.m.state in (CallState.RINGING, CallState.CALLING):
            state = {CallState.RINGING: "ringing", CallState.CALLING: "calling"}.get(
                self.m.state, "on_hold" if self.m.held else "active")
            m = self.m
            me = CallRecord(m.call_id or m.incoming_call_id or "", m.peer or "", state, m.now,
                            m.call_security)
            listed.append(me.info(hearing=self.m.state in IN_CALL_STATES))
        return listed + self.m.others.info()

    def other_call_event(self, event: ev.Event) -> Commands:
        record = self.m.others.records[getattr(event, "call_id", "")]
        if isinstance(event, ev.CallFinished):  # the waiting caller gave up, a held party left
            self.m.others.take(record.call_id)
            # Each call of several is noted on its own, with its own security.
            if (entry := record.history_record(self.m.now)) is not None:
                self.m.pending.append(entry)
            if self.m.state is CallState.HELD:
                return self.go_idle_or_held()
            quiet = [ev.PlayTone(None)] if record.role == "waiting" else []
            return [*quiet, *self._refresh_current()]
        if self.m.others.on_security(record, event):  # flagged at once, on the line naming it
            return self._refresh_current()
        return []

    def _refresh_current(self) -> Commands:
        if self.m.state is CallState.HELD:
            return [self.m.show(self._held_screen())]
        return self.m.refresh_call_screen() if self.m.state in IN_CALL_STATES else []

    def _held_screen(self) -> HeldScreen:
        record = self.m.others.held()
        assert record is not None, "the held state always has a held call"
        return HeldScreen(peer=record.peer, security=record.security.level.value,
                          off_hook=self.m.off_hook, resume_key=self.m.key_names.resume)

    def go_idle_or_held(self) -> Commands:
        """The call in the earpiece is gone: a waiting caller now rings, a held call reminds."""
        waiting, held = self.m.others.waiting(), self.m.others.held()
        if waiting is not None:
            self.m.others.take(waiting.call_id)
            return self.m.incoming.ring_for(ev.CallArrived(waiting.call_id, waiting.caller,
                                                 waiting.display_name), waiting.since)
        if held is None:
            return self.m.go_idle()
        self.m.reset_call()
        self.m.state = CallState.HELD
        # The reminder ring: a call left on hold with the handset down must not be forgotten.
        return [ev.PlayTone(None), ev.Ring(not self.m.off_hook), self.m.show(self._held_screen())]

    def call_waiting(self, event: ev.CallArrived) -> Commands:
        if self.m.idle.dnd:  # the one do not disturb: no second caller waits either
            return self.m.incoming.dnd_reject(event)
        self.m.others.add_waiting(event, self.m.now)
        # In the earpiece, not the ringer: the person is on the phone (ITU-T E.182 §5).
        return [ev.PlayTone("call_waiting"), *self.m.refresh_call_screen()]

    def _take_over(self, record: CallRecord) -> None:
        """`record`'s call becomes the one in the earpiece; the current one, if any, is held."""
        self.m.others.take(record.call_id)
        if self.m.state in IN_CALL_STATES:  # its history entry goes with it, to end on its own
            self.m.others.hold(self.m.call_id, self.m.peer or "", self.m.call_security,
                             self.m.answered_at, self.m.now, self.m.tracker.set_aside())
        self.m.reset_call()
        if record.role == "held":
            self.m.tracker.resume(record.tracked)
        else:  # a waiting caller answered: an incoming call from when it began to wait
            known = self.m.idle.contacts.lookup(record.caller)
            name = known.name if known is not None else record.display_name
            self.m.tracker.begin("incoming", record.caller, name or "", record.since)
            self.m.tracker.answered(self.m.now)
        m = self.m
        m.call_id, m.peer, m.call_security = record.call_id, record.peer, record.security
        self.m.answered_at = record.answered_at if record.role == "held" else self.m.now
        self.m.state = CallState.IN_CALL
        self.m.set_timer("refresh", self.m.now + 1.0)

    def swap(self, _: ev.Event) -> Commands:
        record = self.m.others.waiting() or self.m.others.held()
        if record is None:
            self.m.ignored += 1
            return []
        return self._bring_back(record)

    def _bring_back(self, record: CallRecord) -> Commands:
        answering = record.role == "waiting"
        self._take_over(record)
        # A mismatch found while it was held sounds now that it is heard (issue 15 item 2).
        tone = "mitm" if record.security.level.value == "mismatch" else None
        action: ev.Command = ev.AnswerCall(record.call_id) if answering else ev.SwapTo(
            record.call_id)
        return [ev.Ring(False), ev.PlayTone(tone), action, *self.m.refresh_call_screen()]

    def answer_other(self, event: ev.AnswerRequested) -> Commands:
        record = self.m.others.records.get(event.call_id)
        if record is None:
            self.m.ignored += 1
            return []
        return self._bring_back(record)

    def answer_ringing(self, event: ev.AnswerRequested) -> Commands:
        if event.call_id != self.m.incoming_call_id:
            self.m.ignored += 1
            return []
        return self.m.incoming.answer_incoming()

    def ringing_key(self, event: ev.KeyPressed) -> Commands:
        # Handset already up (the call before it ended): the swap key answers.
        if event.key == SWAP_KEY and self.m.off_hook:
            return self.m.incoming.answer_incoming()
        return []

    def remind(self, _: ev.HookOn) -> Commands:
        return [ev.Ring(True), self.m.show(self._held_screen())]

    def transfer_attended(self, event: ev.AttendedTransferRequested) -> Commands:
        record = self.m.others.records.get(event.call_id)
        if record is None or record.role != "held":
            self.m.ignored += 1
            return []
        self.m.state = CallState.TRANSFERRING
        self.m.transfer.send(record.peer)
        self.m.transfer.handed_over = record.peer
        return [ev.TransferAttended(record.call_id), *self.m.refresh_call_screen()]

    def call_replaced(self, event: ev.CallReplaced) -> Commands:
        # We are the transfer's target: a new call, with its own ZRTP and SAS, stands in.
        if event.old_call_id == self.m.call_id:
            # The replaced call ends in the history with its security; the new one begins.
            if (entry := self.m.tracker.finish(self.m.now, self.m.call_security.level.value)):
                self.m.pending.append(entry)
            self.m.tracker.begin("incoming", event.peer, "", self.m.now)
            self.m.tracker.answered(self.m.now)
            self.m.call_id, self.m.peer = event.new_call_id, event.peer
            self.m.call_security = CallSecurity()
            self.m.answered_at = self.m.now
            return [ev.PlayTone(None), *self.m.refresh_call_screen()]
        record = self.m.others.take(event.old_call_id)
        if record is None:
            self.m.ignored += 1
            return []
        if (entry := record.history_record(self.m.now)) is not None:
            self.m.pending.append(entry)
        tracked = TrackedCall("incoming", event.peer, "", self.m.now, self.m.now)
        self.m.others.hold(event.new_call_id, event.peer, CallSecurity(), self.m.now, self.m.now,
                         tracked)
        return self._refresh_current()

    def held_key(self, event: ev.KeyPressed) -> Commands:
        return self.swap(event) if event.key == SWAP_KEY else []



    # -- a 3-way conference mixed on this phone --------------------------------------------------

    def conference(self, _: ev.Event) -> Commands:
        record = self.m.others.held()
        if self.m.state is not CallState.IN_CALL or record is None or self.m.others.waiting():
            self.m.ignored += 1
            return []
        record.role = CONFERENCE
        self.m.held = False  # both legs are heard: neither is on hold
        return [ev.JoinConference(), *self.m.refresh_call_screen()]

    def conference_legs(self) -> tuple[ConferenceLeg, ...]:
        """Both legs for the conference screen, or () when there is no conference."""
        record = self.m.others.conference()
        if record is None:
            return ()
        current = self.m.call_security
        return (ConferenceLeg(self.m.peer or "", current.level.value, current.sas,
                              current.level is Security.VERIFIED),
                ConferenceLeg(record.peer, record.security.level.value, record.security.sas,
                              record.security.level is Security.VERIFIED))

    def conference_hang_up(self) -> Commands:
        """The handset went down (or the flash window closed with it down) in a conference."""
        record = self.m.others.conference()
        assert record is not None, "the machine asks only during a conference"
        if self.m.settings.conference_hangup == "join":
            # RFC 5589 §7: the other leg is referred to the current one, which it replaces
            record.role = HELD
            self.m.state = CallState.TRANSFERRING
            self.m.transfer.send(record.peer)
            self.m.transfer.handed_over = record.peer
            return [ev.TransferAttended(record.call_id), *self.m.refresh_call_screen()]
        self.m.others.take(record.call_id)  # the call layer ends both legs
        if (entry := record.history_record(self.m.now)) is not None:
            self.m.pending.append(entry)
        return [ev.HangUp(), *self.go_idle_or_held()]

    def conference_leg_left(self, _: ev.CallFinished) -> Commands:
        """The leg in the earpiece ended: the other one goes on as an ordinary call."""
        record = self.m.others.conference()
        assert record is not None
        record.role = HELD
        self.m.reset_call()  # the ended leg's history entry, with its own security
        self.m.state = CallState.HELD  # not in a call now: nothing is put on hold by the take-over
        self._take_over(record)
        return [ev.PlayTone(None), *self.m.refresh_call_screen()]
