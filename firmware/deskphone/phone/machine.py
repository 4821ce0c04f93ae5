"""The phone itself, as one state machine: events in, commands out (sans-IO).

Theory of operation
-------------------
The phone has two pieces of state that a person can see:

* the **call state** — idle, offhook (dial tone), dialing (digits on screen), calling (waiting for
  the far end, ringback once it alerts), ringing (an incoming call), in_call, transfer_dialing
  (the transfer key was pressed: keying the target), transferring (REFER sent, waiting for the
  far end's new call), held (no call in the earpiece, one on hold), ended (a reason on screen
  until the handset goes down);
* the **security state** of the current call (`call_security.py`) — none, securing, secure,
  verified, not_secure, mismatch. "Secure" is shown only when it is true; a mismatch overrides
  everything else until the person compares the SAS again.

Every event-triggered transition of the call state is a row of `TRANSITIONS` in
`transitions.py`: `{state: {event type: handler name}}`. An event that has no row in the current
state is ignored and counted in `ignored` (a key pressed while ringing does nothing, as on a real
desk phone). Handlers return the
commands for the app (screens, tones, ringer, SIP actions); the app never decides what the phone
does, it only carries it out. Time comes in as `now`; the machine reads no clock. Its only timers
are the inter-digit timeout, the end-of-call screen, and the once-a-second in-call refresh.

The pieces beside this file keep their own state and never see the machine: `vocabulary.py`
names the states, keys and end-of-call reasons; `settings.py` is the machine's configuration;
`call_view.py` picks a call's screen from a read-only `CallView`; `call_security.py` and
`transfer.py` (blind transfer, RFC 3515) are objects the machine owns and delegates to;
`other_calls.py` keeps the waiting and held calls, each with its own security. The call state
changes only through the handlers `TRANSITIONS` names: here, and those of several calls at once
(call waiting, swap: `several_calls.py`, a base class of the machine).
"""

from __future__ import annotations

from dataclasses import replace

from deskphone.phone import events as ev
from deskphone.phone.call_security import CallSecurity
from deskphone.phone.call_view import CallView, call_screen
from deskphone.phone.other_calls import OtherCalls
from deskphone.phone.screens import (
    CallingScreen,
    DialingScreen,
    EndedScreen,
    ErrorScreen,
    IdleScreen,
    OffHookScreen,
    RingingScreen,
)
from deskphone.phone.settings import MachineSettings
from deskphone.phone.several_calls import SeveralCalls
from deskphone.phone.transfer import BlindTransfer, Keyed, SetAsideCall
from deskphone.phone.transitions import TRANSITIONS, bind_handlers
from deskphone.phone.vocabulary import (
    ATTACK_DETAIL,
    DIAL_KEYS,
    END_REASONS,
    IN_CALL_STATES,
    MAX_DIGITS,
    PEER_WARNINGS,
    REVERIFY_KEY,
    STATS_KEY,
    SWAP_KEY,
    TRANSFER_KEY,
    CallState,
    Security,
)

# Re-exported: callers and tests import the phone's vocabulary from here.
__all__ = [
    "DIAL_KEYS", "END_REASONS", "IN_CALL_STATES", "MAX_DIGITS", "PEER_WARNINGS", "REVERIFY_KEY",
    "STATS_KEY", "TRANSFER_KEY", "TRANSITIONS", "CallState", "MachineSettings", "PhoneMachine",
    "Security",
]


Commands = list[ev.Command]


class PhoneMachine(SeveralCalls):
    def __init__(self, settings: MachineSettings) -> None:
        self.settings = settings
        self.state = CallState.IDLE
        self.call_security = CallSecurity()
        self.status = settings.status
        self.off_hook = False
        self.digits = ""
        self.peer: str | None = None
        self.incoming_call_id: str | None = None
        self.call_id = ""  # the call the earpiece carries, once the call layer named it
        self.others = OtherCalls()  # waiting and held calls, each with its own security
        self.held = False
        self.last_dtmf = ""
        self.answered_at: float | None = None
        self.lan_warning = ""
        self.transfer = BlindTransfer()
        self.show_stats = False  # the call-quality screen instead of the call screen
        self.stats: ev.CallStats | None = None
        self.screen: object = self._idle_screen()
        self.ignored = 0
        self._timer: float | None = None
        self._timer_kind: str | None = None
        self._now = 0.0

    # -- public API ------------------------------------------------------------------------

    def start(self, now: float) -> Commands:
        self._now = now
        return [self._show(self._idle_screen())]

    def handle(self, event: ev.Event, now: float) -> Commands:
        self._now = now
        if isinstance(event, ev.HookOff):
            self.off_hook = True
        elif isinstance(event, ev.HookOn):
            self.off_hook = False
        call_id = getattr(event, "call_id", "")
        # These name another call but concern the current one (its state table decides).
        commands_about = ev.AnswerRequested | ev.AttendedTransferRequested | ev.TransferSucceeded
        if call_id in self.others and not isinstance(event, commands_about):
            return self._other_call_event(event)  # about a waiting or held call
        if call_id and self.call_id and call_id != self.call_id and not isinstance(
                event, ev.CallArrived | commands_about):
            self.ignored += 1  # about a call that is no longer ours
            return []
        handler = _HANDLERS[self.state].get(type(event))
        if handler is None:
            self.ignored += 1
            return []
        return handler(self, event)

    def get_timer(self) -> float | None:
        return self._timer

    def handle_timer(self, now: float) -> Commands:
        self._now = now
        if self._timer is None or now < self._timer:
            return []
        kind, self._timer, self._timer_kind = self._timer_kind, None, None
        if kind == "interdigit" and self.state is CallState.DIALING:
            return self._place(self.digits)
        if kind == "interdigit" and self.state is CallState.TRANSFER_DIALING:
            return self._send_transfer(self.transfer.target or "")
        if kind == "ended" and self.state is CallState.ENDED and not self.off_hook:
            return self._go_idle()
        if kind == "no_answer" and self.state is CallState.CALLING:
            return [ev.HangUp(), *self._end("No answer", self.peer or "", "reorder")]
        if kind == "ring_timeout" and self.state is CallState.RINGING:
            call_id, caller = self.incoming_call_id or "", self.peer
            commands = [ev.RejectCall(call_id, 480), *self._go_idle_or_held()]
            if caller and self.state is CallState.IDLE:
                self.status = f"Missed: {caller}"
                commands.append(self._show(self._idle_screen()))
            return commands
        if kind == "refresh" and self.state in IN_CALL_STATES:
            self._set_timer("refresh", now + 1.0)
            late = self.others.waited_too_long(now, self.settings.ring_seconds)
            if late:  # a waiting call never waits forever: 480 (RFC 3261 §21.4.18)
                return [*(ev.RejectCall(r.call_id, 480) for r in late), ev.PlayTone(None),
                        *self._refresh_call_screen()]
            return self._refresh_call_screen(only_if_changed=True)
        return []

    def snapshot(self) -> dict[str, object]:
        """What the control socket's `state` reports."""
        lines: list[str] = getattr(self.screen, "lines", lambda: [])()
        return {
            "call": self.state.value,
            "security": self.security.value,
            "sas": self.sas,
            "post_quantum": self.call_security.post_quantum,
            "peer": self.peer,
            "off_hook": self.off_hook,
            "digits": self.digits,
            "held": self.held,
            "dtmf": self.last_dtmf,
            "stats_shown": self.show_stats,
            "screen": "\n".join(lines),
            "peer_warning": self.call_security.peer_warning,
            "possible_attack": self.call_security.possible_attack,
            "lan_warning": self.lan_warning or None,
            "transfer": self.transfer.target,
            "transfer_failed": self.transfer.failed or None,
            "calls": self.calls(),
            "waiting": getattr(self.others.waiting(), "peer", None),
            "held_calls": sum(r.role == "held" for r in self.others.records.values()),
        }

    @property
    def security(self) -> Security:
        return self.call_security.level

    @property
    def sas(self) -> str | None:
        return self.call_security.sas

    @property
    def transferred_from(self) -> SetAsideCall | None:
        """As the transferee: the call put aside while the transfer's new call is placed."""
        return self.transfer.set_aside

    # -- helpers -----------------------------------------------------------------------------

    def _set_timer(self, kind: str, at: float) -> None:
        self._timer, self._timer_kind = at, kind

    def _clear_timer(self) -> None:
        self._timer, self._timer_kind = None, None

    def _show(self, screen: object) -> ev.ShowScreen:
        self.screen = screen
        return ev.ShowScreen(screen)

    def _idle_screen(self) -> IdleScreen:
        return IdleScreen(extension=self.settings.extension,
                          display_name=self.settings.display_name, status=self.status,
                          warning=self.lan_warning)

    def _reset_call(self) -> None:
        self.digits = ""
        self.peer = None
        self.call_security = CallSecurity()
        self.incoming_call_id = None
        self.call_id = ""
        self.held = False
        self.last_dtmf = ""
        self.answered_at = None
        self.transfer.clear()
        self.show_stats = False
        self.stats = None
        self._clear_timer()

    def _go_idle(self) -> Commands:
        self._reset_call()
        self.state = CallState.IDLE
        return [ev.PlayTone(None), ev.Ring(False), self._show(self._idle_screen())]

    def _call_screen(self) -> object:
        return call_screen(CallView(
            state=self.state, security=self.security, peer=self.peer or "", sas=self.sas,
            peer_warning=self.call_security.peer_warning,
            transfer_target=self.transfer.target or "", show_stats=self.show_stats,
            stats=self.stats, not_secure_reason=self.call_security.not_secure_reason,
            possible_attack=self.call_security.possible_attack,
            answered_at=self.answered_at, now=self._now, held=self.held, dtmf=self.last_dtmf,
            post_quantum=self.call_security.post_quantum,
            waiting_caller=getattr(self.others.waiting(), "peer", ""),
            other=self.others.summary(), handed_over=self.transfer.handed_over))

    def _refresh_call_screen(self, only_if_changed: bool = False) -> Commands:
        screen = self._call_screen()
        if only_if_changed and screen == self.screen:
            return []
        return [self._show(screen)]

    def _place(self, target: str) -> Commands:
        self._clear_timer()
        self.peer = target
        self.state = CallState.CALLING
        self._set_timer("no_answer", self._now + self.settings.no_answer_seconds)
        return [ev.PlayTone(None), ev.PlaceCall(target),
                self._show(CallingScreen(peer=target, progress="Calling…"))]

    def _end(self, title: str, detail: str, tone: str | None, error: bool = False) -> Commands:
        peer = self.peer
        self._reset_call()
        self.peer = peer
        self.state = CallState.ENDED
        screen = ErrorScreen(title=title, detail=detail) if error else EndedScreen(title=title,
                                                                                   detail=detail)
        commands: Commands = [ev.Ring(False), ev.PlayTone(tone if self.off_hook else None),
                              self._show(screen)]
        if not self.off_hook:
            self._set_timer("ended", self._now + self.settings.ended_screen_seconds)
        return commands

    # -- handlers (each is one row or more of TRANSITIONS) ----------------------------------

    def _lift(self, _: ev.Event) -> Commands:
        self._reset_call()
        self.state = CallState.OFFHOOK
        return [ev.PlayTone("dial"), self._show(OffHookScreen())]

    def _put_down(self, _: ev.Event) -> Commands:
        return self._go_idle()

    def _status(self, event: ev.StatusChanged) -> Commands:
        self.status = event.status
        if self.state is CallState.IDLE:
            return [self._show(self._idle_screen())]
        return []

    def _dial_now(self, event: ev.DialRequested) -> Commands:
        self._reset_call()
        return self._place(event.target)

    def _first_key(self, event: ev.KeyPressed) -> Commands:
        if event.key not in DIAL_KEYS:
            return []  # '*' or '#' with nothing dialled yet: nothing to erase or send
        self.state = CallState.DIALING
        return [ev.PlayTone(None)] + self._add_digit(event.key)

    def _add_digit(self, key: str) -> Commands:
        if len(self.digits) >= MAX_DIGITS:
            return [ev.PlayTone("error")]
        self.digits += key
        complete = self.settings.is_complete
        if complete is not None and complete(self.digits):
            return self._place(self.digits)
        self._set_timer("interdigit", self._now + self.settings.interdigit_timeout)
        return [self._show(DialingScreen(digits=self.digits))]

    def _dial_key(self, event: ev.KeyPressed) -> Commands:
        key = event.key
        if key in DIAL_KEYS:
            return self._add_digit(key)
        if key == "#":
            return self._place(self.digits)
        if key == "*":
            self.digits = self.digits[:-1]
            if not self.digits:
                self._clear_timer()
                self.state = CallState.OFFHOOK
                return [ev.PlayTone("dial"), self._show(OffHookScreen())]
            self._set_timer("interdigit", self._now + self.settings.interdigit_timeout)
            return [self._show(DialingScreen(digits=self.digits))]
        return []  # A-D have no meaning while dialling

    def _busy_reject(self, event: ev.CallArrived) -> Commands:
        # One call at a time: a second caller hears busy (RFC 3261 §21.4.7, 486 Busy Here).
        return [ev.RejectCall(event.call_id, 486)]

    def _incoming(self, event: ev.CallArrived) -> Commands:
        if self.off_hook:
            return self._busy_reject(event)
        return self._ring_for(event, self._now)

    def _ring_for(self, event: ev.CallArrived, since: float) -> Commands:
        self._reset_call()
        self.state = CallState.RINGING
        self.incoming_call_id = event.call_id
        self.peer = event.display_name or event.caller
        self._set_timer("ring_timeout", since + self.settings.ring_seconds)
        return [ev.PlayTone(None), ev.Ring(True),
                self._show(RingingScreen(caller=event.caller, display_name=event.display_name))]

    def _answer(self, _: ev.Event) -> Commands:
        call_id = self.call_id = self.incoming_call_id or ""
        self.state = CallState.IN_CALL
        self.answered_at = self._now
        self._set_timer("refresh", self._now + 1.0)
        return [ev.Ring(False), ev.AnswerCall(call_id), *self._refresh_call_screen()]

    def _missed(self, event: ev.CallFinished) -> Commands:
        caller = self.peer
        commands = self._go_idle_or_held()
        if caller and self.state is CallState.IDLE and event.reason in (
                "cancelled", "remote_hangup", "timeout"):
            self.status = f"Missed: {caller}"
            commands.append(self._show(self._idle_screen()))
        return commands

    def _hang_up(self, _: ev.HookOn) -> Commands:
        return [ev.HangUp(), *self._go_idle_or_held()]

    def _far_ringing(self, _: ev.CallRinging) -> Commands:
        return [ev.PlayTone("ringback"),
                self._show(CallingScreen(peer=self.peer or "", progress="Ringing…"))]

    def _connected(self, event: ev.CallConnected) -> Commands:
        self.transfer.replaced()  # a transfer's new call replaces the old one
        self.call_id = event.call_id or self.call_id
        self.state = CallState.IN_CALL
        self.answered_at = self._now
        self._set_timer("refresh", self._now + 1.0)
        return [ev.PlayTone(None), *self._refresh_call_screen()]

    def _ended(self, event: ev.CallFinished) -> Commands:
        if self.others:  # another call is left: it rings, or waits on hold
            return self._go_idle_or_held()
        title, tone = END_REASONS.get(event.reason, ("Call ended", "reorder"))
        detail = event.detail or self.peer or ""
        if event.reason == "failed" and event.code:
            detail = f"{event.code} {event.detail}".strip()
        elif event.reason == "attack":
            detail = ATTACK_DETAIL  # RFC 6189 §8.1.1, in the words of the NOT SECURE screen
        return self._end(title, detail, tone)

    def _failed_locally(self, event: ev.CallFailedLocally) -> Commands:
        return self._end(event.title, event.detail, "reorder", error=True)

    def _in_call_key(self, event: ev.KeyPressed) -> Commands:
        if self.call_security.awaiting_comparison():  # '#': it matches, '*': it does not
            if event.key == "#":
                return self._confirm(event)
            if event.key == "*":
                return self._reject_sas(event)
        if event.key == STATS_KEY:
            return self._toggle_stats(event)
        if event.key == REVERIFY_KEY:
            return self._reverify(event)
        if event.key == SWAP_KEY and self.others:
            return self._swap(event)
        if event.key == TRANSFER_KEY:
            self.state = CallState.TRANSFER_DIALING
            self.transfer.open()
            return self._refresh_call_screen()
        return [ev.SendDtmf(event.key)]

    def _reverify(self, _: ev.Event) -> Commands:
        commands = self.call_security.reverify()
        if commands is None:
            return []
        self.show_stats = False
        return [*commands, *self._refresh_call_screen()]

    def _toggle_stats(self, _: ev.Event) -> Commands:
        self.show_stats = not self.show_stats
        return self._refresh_call_screen()

    def _call_stats(self, event: ev.CallStats) -> Commands:
        self.stats = event
        return self._refresh_call_screen(only_if_changed=True) if self.show_stats else []

    # -- blind transfer (RFC 3515) ------------------------------------------------------------

    def _transfer_key(self, event: ev.KeyPressed) -> Commands:
        keyed = self.transfer.press(event.key)
        if keyed is Keyed.TYPED:
            self._set_timer("interdigit", self._now + self.settings.interdigit_timeout)
        if keyed in (Keyed.TYPED, Keyed.ERASED):
            return self._refresh_call_screen()
        if keyed is Keyed.FULL:
            return [ev.PlayTone("error")]
        if keyed is Keyed.SEND:
            return self._send_transfer(self.transfer.target or "")
        if keyed is Keyed.BACK:
            return self._back_to_call()
        return []

    def _transfer_now(self, event: ev.TransferDialed) -> Commands:
        return self._send_transfer(event.target)

    def _send_transfer(self, target: str) -> Commands:
        if not target:
            return self._back_to_call()
        self.state = CallState.TRANSFERRING
        self.transfer.send(target)
        self._set_timer("refresh", self._now + 1.0)
        return [ev.TransferCall(target), *self._refresh_call_screen()]

    def _back_to_call(self) -> Commands:
        self.state = CallState.IN_CALL
        self.transfer.close()
        self._set_timer("refresh", self._now + 1.0)
        return self._refresh_call_screen()

    def _transfer_done(self, event: ev.TransferSucceeded) -> Commands:
        handed = self.others.take(event.call_id)  # attended: the held call handed over
        target = f"{handed.peer} to {self.peer}" if handed else self.transfer.target or ""
        return [ev.HangUp(), *self._end("Transferred", target, None)]

    def _transfer_refused(self, event: ev.TransferAborted) -> Commands:
        self.transfer.record_failure(event.detail)
        commands = self._back_to_call()
        return [ev.PlayTone("error"), *commands]

    def _transferred_away(self, event: ev.TransferStarted) -> Commands:
        # We are the transferee: keep what the person saw of the call set aside.
        saved = SetAsideCall(peer=self.peer, answered_at=self.answered_at, held=self.held,
                             security=replace(self.call_security))
        self._reset_call()
        self.transfer.put_aside(saved)
        self.peer = event.target
        self.state = CallState.CALLING
        return [ev.PlayTone(None),
                self._show(CallingScreen(peer=event.target, progress="Transferring…"))]

    def _transfer_fell_through(self, event: ev.TransferAborted) -> Commands:
        saved = self.transfer.set_aside
        if saved is None:
            self.ignored += 1
            return []
        self._reset_call()
        self.transfer.record_failure(event.detail)
        self.peer, self.answered_at, self.held = saved.peer, saved.answered_at, saved.held
        self.call_security = replace(saved.security)
        self.state = CallState.IN_CALL
        self._set_timer("refresh", self._now + 1.0)
        return [ev.PlayTone("error"), *self._refresh_call_screen()]

    def _peer_warning(self, event: ev.PeerWarning) -> Commands:
        commands = self.call_security.warn(event.kind)
        if commands is None:
            self.ignored += 1
            return []
        if commands or self.state in IN_CALL_STATES:
            return [*commands, *self._refresh_call_screen()]
        return []

    def _lan_warning(self, event: ev.LanWarning) -> Commands:
        self.lan_warning = event.text
        if self.state is CallState.IDLE:
            return [self._show(self._idle_screen())]
        return []

    def _security_changed(self, commands: Commands | None) -> Commands:
        return [] if commands is None else [*commands, *self._refresh_call_screen()]

    def _confirm(self, _: ev.Event) -> Commands:
        return self._security_changed(self.call_security.confirm())

    def _reject_sas(self, _: ev.Event) -> Commands:
        return self._security_changed(self.call_security.reject())

    def _securing(self, _: ev.SecuringStarted) -> Commands:
        return self._security_changed(self.call_security.securing())

    def _secured(self, event: ev.Secured) -> Commands:
        return self._security_changed(self.call_security.secured(event.sas, event.verified,
                                                                 event.post_quantum))

    def _not_secure(self, event: ev.CallNotSecure) -> Commands:
        return self._security_changed(self.call_security.not_secure(event.reason,
                                                                   event.possible_attack))

    def _mismatch(self, event: ev.PossibleMitm) -> Commands:
        return self._security_changed(self.call_security.mismatch(event.sas))

    def _dtmf(self, event: ev.DtmfReceived) -> Commands:
        self.last_dtmf = (self.last_dtmf + event.key)[-12:]
        return self._refresh_call_screen()

    def _hold(self, _: ev.HoldToggled) -> Commands:
        self.held = not self.held
        return [ev.SetHold(self.held), *self._refresh_call_screen()]


_HANDLERS = bind_handlers(PhoneMachine)
