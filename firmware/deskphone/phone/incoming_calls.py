"""A call that arrives: forwarded, turned away (busy, do not disturb), rung, answered or missed.

One call at a time rings. A caller while the handset is up hears busy (486, RFC 3261 §21.4.7)
unless forwarding takes it first (forwarding.py, RFC 3261 §21.3.3); do not disturb turns it
away with `[phone] dnd_code` and notes it as missed; otherwise the phone rings, showing the
person's own contact name (or the LAN's) before whatever the From header claims. It rings until
the handset is lifted, the caller gives up (missed), forwarding's no-answer time passes, or
`ring_seconds` pass (480 Temporarily Unavailable, §21.4.18).

Owned by the machine (`machine.incoming`); its handlers are rows `incoming.NAME` of the table
(transitions.py), it reaches the machine only through `CallHost` (call_host.py), and it is given
the forwarding part, which decides first whether a caller is sent on.
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.forwarding import CallForwarding
from deskphone.phone.screens import RingingScreen
from deskphone.phone.vocabulary import CallState

# How the caller's own phone ended the ring, for the "Missed: NAME" line on the idle screen.
_MISSED_REASONS = ("cancelled", "remote_hangup", "timeout")

Commands = list[ev.Command]


class IncomingCalls:
    """Owned by the machine (`machine.incoming`); rows `incoming.NAME` of the table."""

    def __init__(self, machine: CallHost, forward: CallForwarding) -> None:
        self.m = machine
        self.forward = forward

    def arrived(self, event: ev.CallArrived) -> Commands:
        """A caller while no call is in the earpiece (idle, held, the end-of-call screen)."""
        if forwarded := self.forward.arrived(event, busy=self.m.off_hook):
            return forwarded
        if self.m.off_hook:
            return self.busy(event)
        if self.m.idle.dnd:
            return self.dnd_reject(event)
        return self.ring_for(event, self.m.now)

    def busy(self, event: ev.CallArrived) -> Commands:
        # One call at a time: a second caller hears busy (RFC 3261 §21.4.7, 486 Busy Here).
        return self.forward.arrived(event, busy=True) or [
            ev.RejectCall(event.call_id, 486), self.m.idle.history.missed_now(event, self.m.now)]

    def dnd_reject(self, event: ev.CallArrived) -> Commands:
        # Do not disturb: turned away without ringing ([phone] dnd_code), noted as missed.
        return [ev.RejectCall(event.call_id, self.m.settings.dnd_code),
                self.m.idle.history.missed_now(event, self.m.now)]

    def ring_for(self, event: ev.CallArrived, since: float) -> Commands:
        """Ring for `event`'s caller, who has been calling since `since` (a waiting caller's
        ring starts when it began to wait)."""
        m = self.m
        m.reset_call()
        m.state = CallState.RINGING
        m.incoming_call_id = event.call_id
        # The person's own contacts (or the LAN's name) before whatever the From header claims.
        known = m.idle.contacts.lookup(event.caller)
        name = known.name if known is not None else event.display_name
        m.peer = name or event.caller
        m.tracker.begin("incoming", event.caller, name or "", since)
        give_up = since + m.settings.ring_seconds
        forward_at = self.forward.ring_deadline(since)  # no answer: on to the target
        if forward_at is not None and forward_at < give_up:
            m.set_timer("forward", forward_at)
        else:
            m.set_timer("ring_timeout", give_up)
        return [ev.PlayTone(None), ev.Ring(True),
                m.show(RingingScreen(caller=event.caller, display_name=name,
                                     mark=known.mark if known is not None else ""))]

    def answer(self, _: ev.Event) -> Commands:
        return self.answer_incoming()

    def answer_incoming(self) -> Commands:
        m = self.m
        call_id = m.call_id = m.incoming_call_id or ""
        m.state = CallState.IN_CALL
        m.answered_at = m.now
        m.tracker.answered(m.now)
        m.set_timer("refresh", m.now + 1.0)
        return [ev.Ring(False), ev.AnswerCall(call_id), *m.refresh_call_screen()]

    def missed(self, event: ev.CallFinished) -> Commands:
        """The caller's side ended the ring: a held or waiting call comes back, or idle says
        who was missed."""
        caller = self.m.peer
        commands = self.m.several.go_idle_or_held()
        if caller and self.m.state is CallState.IDLE and event.reason in _MISSED_REASONS:
            commands.append(self._missed_shown(caller))
        return commands

    def gave_up(self) -> Commands:
        """`ring_seconds` passed: 480 (RFC 3261 §21.4.18), and the idle screen says who."""
        call_id, caller = self.m.incoming_call_id or "", self.m.peer
        commands = [ev.RejectCall(call_id, 480), *self.m.several.go_idle_or_held()]
        if caller and self.m.state is CallState.IDLE:
            commands.append(self._missed_shown(caller))
        return commands

    def _missed_shown(self, caller: str) -> ev.ShowScreen:
        self.m.idle.status = f"Missed: {caller}"
        return self.m.show(self.m.idle.screen())
