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
`call_view.py` picks a call's screen from a read-only `CallView`; `call_security.py`,
`transfer.py` (blind transfer's own state), `idle_panel.py` (status, history, contacts, DND,
clock) and `history_view.py` (the call being noted) are objects the machine owns and delegates
to; `other_calls.py` keeps the waiting and held calls, each with its own security. The call
state changes only through the handlers `TRANSITIONS` names: here, and those of the machine's
parts (`PARTS`: `several_calls.py` call waiting and swap, `transfer_flow.py` blind transfer,
`dialing.py` the dialling keys, `verification.py` the SAS compared and ZRTP's outcome,
`call_quality.py` the call-quality screen, `incoming_calls.py` a call that arrives, and the
others `PARTS` lists), owned objects that see the machine only as `CallHost` (call_host.py),
its public call state and helpers.
"""

from __future__ import annotations

from dataclasses import replace

from deskphone.phone import events as ev
from deskphone.phone.call_quality import CallQuality
from deskphone.phone.call_security import CallSecurity
from deskphone.phone.call_view import CallView, call_screen
from deskphone.phone.dialing import Dialing
from deskphone.phone.forwarding import CallForwarding
from deskphone.phone.history_view import MUTE_KEY, CallTracker
from deskphone.phone.hook_flash import HookFlash
from deskphone.phone.idle_panel import IdlePanel
from deskphone.phone.incoming_calls import IncomingCalls
from deskphone.phone.other_calls import OtherCalls
from deskphone.phone.screens import (
    CallingScreen,
    EndedScreen,
    ErrorScreen,
    InCallScreen,
    OffHookScreen,
)
from deskphone.phone.settings import MachineSettings
from deskphone.phone.several_calls import SeveralCalls
from deskphone.phone.snapshot import snapshot_of
from deskphone.phone.transfer import BlindTransfer, SetAsideCall
from deskphone.phone.transfer_flow import TransferFlow
from deskphone.phone.transitions import TRANSITIONS, bind_handlers
from deskphone.phone.verification import SasVerification
from deskphone.phone.vocabulary import (
    ATTACK_DETAIL,
    CONFERENCE_KEY,
    DIAL_KEYS,
    END_REASONS,
    FLASH_KEYS,
    IN_CALL_STATES,
    LETTER_KEYS,
    MAX_DIGITS,
    PEER_WARNINGS,
    REVERIFY_KEY,
    STATS_KEY,
    SWAP_KEY,
    TRANSFER_KEY,
    VOICEMAIL_KEY,
    CallState,
    Security,
)
from deskphone.phone.volume_keys import VolumeKeys

# Re-exported: callers and tests import the phone's vocabulary from here.
__all__ = [
    "DIAL_KEYS", "END_REASONS", "IN_CALL_STATES", "MAX_DIGITS", "PEER_WARNINGS", "REVERIFY_KEY",
    "STATS_KEY", "TRANSFER_KEY", "TRANSITIONS", "CallState", "MachineSettings", "PhoneMachine",
    "Security",
]


Commands = list[ev.Command]


class PhoneMachine:
    def __init__(self, settings: MachineSettings) -> None:
        self.settings = settings
        self.state = CallState.IDLE
        self.call_security = CallSecurity()
        self.off_hook = False
        self.digits = ""
        self.peer: str | None = None
        self.incoming_call_id: str | None = None
        self.call_id = ""  # the call the earpiece carries, once the call layer named it
        self.others = OtherCalls()  # waiting and held calls, each with its own security
        self.several = SeveralCalls(self)  # call waiting, swap, held calls (its handlers)
        self.flash = HookFlash(self, self.several)  # the hook flash and its R codes (4x3 keypads)
        self.key_names = LETTER_KEYS if settings.letter_keys else FLASH_KEYS
        self.transfer_flow = TransferFlow(self)  # blind transfer's handlers (RFC 3515)
        self.dialing = Dialing(self)  # the keys of a lifted handset: digits, redial
        self.volume = VolumeKeys(self)  # 2/8 the ringer, *2/*8 the earpiece in a call
        self.held = False
        self.last_dtmf = ""
        self.answered_at: float | None = None
        self.transfer = BlindTransfer()
        self.quality = CallQuality(self)  # the call-quality screen and its latest figures
        self.verification = SasVerification(self, self.quality)  # the SAS compared, ZRTP's word
        self.idle = IdlePanel(settings)  # status, history, contacts, DND, clock between calls
        self.tracker = CallTracker()
        self.muted = False  # the microphone, in this call
        self.handset_lost = False  # the handset's audio device has vanished (unplugged)
        self.pending: Commands = []  # what a handler's _reset_call recorded, sent after it
        self.forward = CallForwarding(self)  # always / busy / no answer, by 302
        self.incoming = IncomingCalls(self, self.forward)  # ring, busy, DND, answer, missed
        self.screen: object = self.idle_screen()
        self.ignored = 0
        self._timer: float | None = None
        self._timer_kind: str | None = None
        self.now = 0.0

    # -- public API ------------------------------------------------------------------------

    def start(self, now: float) -> Commands:
        self.now = now
        return [self.show(self.idle_screen())]

    def handle(self, event: ev.Event, now: float) -> Commands:
        self.now = now
        if isinstance(event, ev.HookOff):
            self.off_hook = True
        elif isinstance(event, ev.HookOn):
            self.off_hook = False
        elif isinstance(event, ev.HandsetAudioChanged):  # in any state: a device fact
            self.handset_lost = event.lost
            return self.refresh_call_screen() if self.state in IN_CALL_STATES else []
        call_id = getattr(event, "call_id", "")
        # These name another call but concern the current one (its state table decides).
        commands_about = ev.AnswerRequested | ev.AttendedTransferRequested | ev.TransferSucceeded
        if call_id in self.others and not isinstance(event, commands_about):
            # about a waiting or held call
            return self.several.other_call_event(event) + self.take_pending()
        if call_id and self.call_id and call_id != self.call_id and not isinstance(
                event, ev.CallArrived | commands_about):
            self.ignored += 1  # about a call that is no longer ours
            return []
        handler = _HANDLERS[self.state].get(type(event))
        if handler is None:
            self.ignored += 1
            return []
        return handler(self, event) + self.take_pending()

    def get_timer(self) -> float | None:
        return self._timer

    def handle_timer(self, now: float) -> Commands:
        return self._timer_fired(now) + self.take_pending()

    def _timer_fired(self, now: float) -> Commands:
        self.now = now
        if self._timer is None or now < self._timer:
            return []
        kind, self._timer, self._timer_kind = self._timer_kind, None, None
        if kind == "interdigit" and self.state is CallState.DIALING:
            return self.place(self.digits)
        if kind == "interdigit" and self.state is CallState.TRANSFER_DIALING:
            return self.transfer_flow.send(self.transfer.target or "")
        if kind == "ended" and self.state is CallState.ENDED and not self.off_hook:
            return self.go_idle()
        if kind == "no_answer" and self.state is CallState.CALLING:
            return [ev.HangUp(), *self.end("No answer", self.peer or "", "reorder")]
        if kind == "forward" and self.state is CallState.RINGING:
            return self.forward.no_answer()
        if kind == "ring_timeout" and self.state is CallState.RINGING:
            return self.incoming.gave_up()
        if kind in ("flash", "recall") and self.state is CallState.IN_CALL:
            return self.flash.timer(kind)
        if kind == "refresh" and self.state in IN_CALL_STATES:
            self.set_timer("refresh", now + 1.0)
            self.pending.extend(self.volume.tick(now))  # a lone '*' goes out as DTMF
            late = self.others.waited_too_long(now, self.settings.ring_seconds)
            if late:  # a waiting call never waits forever: 480 (RFC 3261 §21.4.18)
                missed = [e for r in late if (e := r.history_record(now)) is not None]
                return [*(ev.RejectCall(r.call_id, 480) for r in late), *missed, ev.PlayTone(None),
                        *self.refresh_call_screen()]
            return self.refresh_call_screen(only_if_changed=True)
        return []

    def snapshot(self) -> dict[str, object]:
        """What the control socket's `state` reports (phone/snapshot.py)."""
        return snapshot_of(self)

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

    def set_timer(self, kind: str, at: float) -> None:
        self._timer, self._timer_kind = at, kind

    def clear_timer(self) -> None:
        self._timer, self._timer_kind = None, None

    def show(self, screen: object) -> ev.ShowScreen:
        self.screen = screen
        return ev.ShowScreen(screen)

    def idle_screen(self) -> object:
        return self.idle.screen()

    def take_pending(self) -> Commands:
        pending, self.pending = self.pending, []
        return pending

    def reset_call(self) -> None:
        record = self.tracker.finish(self.now, self.security.value)
        if record is not None:
            self.pending.append(record)
        self.idle.history.browser = None
        self.volume.prefix_at = None
        if self.muted:  # a call's mute ends with it
            self.muted = False
            self.pending.append(ev.SetMute(False))
        self.digits = ""
        self.peer = None
        self.call_security = CallSecurity()
        self.incoming_call_id = None
        self.call_id = ""
        self.held = False
        self.last_dtmf = ""
        self.answered_at = None
        self.transfer.clear()
        self.flash.clear()
        self.quality.clear()
        self.clear_timer()

    def go_idle(self) -> Commands:
        self.reset_call()
        self.state = CallState.IDLE
        return [ev.PlayTone(None), ev.Ring(False), self.show(self.idle_screen())]

    def _call_screen(self) -> object:
        return call_screen(CallView(
            state=self.state, security=self.security, peer=self.peer or "", sas=self.sas,
            peer_warning=self.call_security.peer_warning,
            transfer_target=self.transfer.target or "", show_stats=self.quality.shown,
            stats=self.quality.latest, not_secure_reason=self.call_security.not_secure_reason,
            possible_attack=self.call_security.possible_attack,
            answered_at=self.answered_at, now=self.now, held=self.held, dtmf=self.last_dtmf,
            post_quantum=self.call_security.post_quantum,
            waiting_caller=getattr(self.others.waiting(), "peer", ""),
            other=self.others.summary(), handed_over=self.transfer.handed_over,
            conference=self.several.conference_legs(),
            transfer_progress=self.transfer.progress,
            transfer_notice=self.transfer.notice_at(self.now), keys=self.key_names))

    def refresh_call_screen(self, only_if_changed: bool = False) -> Commands:
        screen = self._call_screen()
        if isinstance(screen, InCallScreen) and (self.muted or self.handset_lost):
            screen = replace(screen, muted=self.muted, audio_lost=self.handset_lost)
        if (notice := self.volume.notice_at(self.now)) and isinstance(screen, InCallScreen):
            screen = replace(screen, notice=notice)
        if only_if_changed and screen == self.screen:
            return []
        return [self.show(screen)]

    def place(self, target: str) -> Commands:
        self.clear_timer()
        self.peer = target
        self.state = CallState.CALLING
        self.set_timer("no_answer", self.now + self.settings.no_answer_seconds)
        self.tracker.begin("outgoing", target, "", self.now)
        return [ev.PlayTone(None), ev.PlaceCall(target),
                self.show(CallingScreen(peer=target, progress="Calling…"))]

    def end(self, title: str, detail: str, tone: str | None, error: bool = False) -> Commands:
        peer = self.peer
        self.reset_call()
        self.peer = peer
        self.state = CallState.ENDED
        screen = ErrorScreen(title=title, detail=detail) if error else EndedScreen(title=title,
                                                                                   detail=detail)
        commands: Commands = [ev.Ring(False), ev.PlayTone(tone if self.off_hook else None),
                              self.show(screen)]
        if not self.off_hook:
            self.set_timer("ended", self.now + self.settings.ended_screen_seconds)
        return commands

    # -- handlers (each is one row or more of TRANSITIONS) ----------------------------------

    def _lift(self, _: ev.Event) -> Commands:
        self.reset_call()
        self.state = CallState.OFFHOOK
        return [ev.PlayTone("dial"), self.show(OffHookScreen())]

    def _put_down(self, _: ev.Event) -> Commands:
        return self.go_idle()

    def _panel_changed(self, event: ev.Event) -> Commands:
        self.idle.apply(event)  # status, LAN warning, history, contacts, DND, clock
        return [self.show(self.idle_screen())] if self.state is CallState.IDLE else []

    def _dial_now(self, event: ev.DialRequested) -> Commands:
        self.reset_call()
        return self.place(event.target)

    def calls(self) -> list[dict[str, object]]:
        """Every call: the one in the earpiece (or ringing), then the waiting and held ones."""
        return self.several.calls()

    def _hang_up(self, _: ev.HookOn) -> Commands:
        return self.hang_up_now()

    def hang_up_now(self) -> Commands:
        if self.others.conference() is not None:  # both legs end, or are joined ([phone])
            return self.several.conference_hang_up()
        return [ev.HangUp(), *self.several.go_idle_or_held()]

    def _far_ringing(self, _: ev.CallRinging) -> Commands:
        return [ev.PlayTone("ringback"),
                self.show(CallingScreen(peer=self.peer or "", progress="Ringing…"))]

    def _connected(self, event: ev.CallConnected) -> Commands:
        self.transfer.replaced()  # a transfer's new call replaces the old one
        self.call_id = event.call_id or self.call_id
        self.state = CallState.IN_CALL
        self.answered_at = self.now
        self.tracker.answered(self.now)
        self.set_timer("refresh", self.now + 1.0)
        return [ev.PlayTone(None), *self.refresh_call_screen()]

    def _ended(self, event: ev.CallFinished) -> Commands:
        if self.others.conference() is not None:  # the conference's other leg goes on alone
            return self.several.conference_leg_left(event)
        if self.others:  # another call is left: it rings, or waits on hold
            return self.several.go_idle_or_held()
        title, tone = END_REASONS.get(event.reason, ("Call ended", "reorder"))
        detail = event.detail or self.peer or ""
        if event.reason == "failed" and event.code:
            detail = f"{event.code} {event.detail}".strip()
        elif event.reason == "attack":
            detail = ATTACK_DETAIL  # RFC 6189 §8.1.1, in the words of the NOT SECURE screen
        return self.end(title, detail, tone)

    def _failed_locally(self, event: ev.CallFailedLocally) -> Commands:
        return self.end(event.title, event.detail, "reorder", error=True)

    def _in_call_key(self, event: ev.KeyPressed) -> Commands:
        if self.flash.recall:  # the key after a hook flash is an R code
            return self.flash.code(event)
        if (verdict := self.verification.key(event)) is not None:  # '#' matches, '*' not
            return verdict
        held_back, consumed = self.volume.in_call_key(event.key, self.now)  # *2 / *8
        if consumed:
            return held_back
        return held_back + self._call_key(event)

    def _call_key(self, event: ev.KeyPressed) -> Commands:
        if event.key == STATS_KEY:
            return self.quality.toggle(event)
        if event.key == REVERIFY_KEY:
            return self.verification.reverify(event)
        if event.key == CONFERENCE_KEY and self.others.held() is not None:
            return self.several.conference(event)
        if event.key == SWAP_KEY and self.others:  # D: swap / answer the waiting call
            return self.several.swap(event)
        if event.key == MUTE_KEY:  # D with no other call: mute
            return self._toggle_mute(event)
        if event.key == TRANSFER_KEY and (held := self.others.held()) is not None:
            # A consultation: XFER hands the held call over to this one (RFC 5589 §7).
            return self.several.transfer_attended(ev.AttendedTransferRequested(held.call_id))
        if event.key == TRANSFER_KEY:
            self.state = CallState.TRANSFER_DIALING
            self.transfer.open()
            return self.refresh_call_screen()
        return [ev.SendDtmf(event.key)]

    def _dtmf(self, event: ev.DtmfReceived) -> Commands:
        self.last_dtmf = (self.last_dtmf + event.key)[-12:]
        return self.refresh_call_screen()

    def _hold(self, _: ev.HoldToggled) -> Commands:
        if self.others.conference() is not None:  # one leg held would still hear the other
            self.ignored += 1
            return []
        self.held = not self.held
        return [ev.SetHold(self.held), *self.refresh_call_screen()]

    # -- call history and redial (phone/history_keys.py) -----------------------------------

    def _toggle_mute(self, _: ev.Event) -> Commands:
        self.muted = not self.muted
        return [ev.SetMute(self.muted), *self.refresh_call_screen()]

    def _idle_key(self, event: ev.KeyPressed) -> Commands:
        if self.idle.history.browser is None and (ringer := self.volume.ringer_key(event.key)):
            return ringer  # 2/8: the ringer's volume (they move through the list once open)
        if self.idle.history.browser is None and event.key == VOICEMAIL_KEY and (
                self.settings.voicemail):
            return self.place(self.settings.voicemail)
        action = self.idle.history.press(event.key)
        if action.call is not None:
            self.reset_call()
            return self.place(action.call)
        if not action.redraw:
            self.ignored += 1  # a key with no meaning here, as before the history had keys
            return []
        return [*action.commands, self.show(self.idle_screen())]


# The objects the machine owns whose handlers are rows of the table ("several.swap").
PARTS: dict[str, type] = {"several": SeveralCalls, "transfer_flow": TransferFlow,
                          "dialing": Dialing, "volume": VolumeKeys, "forward": CallForwarding,
                          "flash": HookFlash, "verification": SasVerification,
                          "quality": CallQuality, "incoming": IncomingCalls}
_HANDLERS = bind_handlers(PhoneMachine, PARTS)
