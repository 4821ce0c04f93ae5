"""The phone itself, as one state machine: events in, commands out (sans-IO).

Theory of operation
-------------------
The phone has two pieces of state that a person can see:

* the **call state** — idle, offhook (dial tone), dialing (digits on screen), calling (waiting for
  the far end, ringback once it alerts), ringing (an incoming call), in_call, transfer_dialing
  (the transfer key was pressed: keying the target), transferring (REFER sent, waiting for the
  far end's new call), ended (a reason on screen until the handset goes down);
* the **security state** of the current call — none, securing (ZRTP running), secure (keys agreed,
  SAS not yet compared), verified (SAS compared now or in an earlier call), not_secure, mismatch
  (possible man in the middle). "Secure" is shown only when it is true; a mismatch overrides
  everything else until the person compares the SAS again.

Every event-triggered transition of the call state is a row of `TRANSITIONS` below: `{state:
{event type: handler}}`. An event that has no row in the current state is ignored and counted in
`ignored` (a key pressed while ringing does nothing, as on a real desk phone). Handlers return the
commands for the app (screens, tones, ringer, SIP actions); the app never decides what the phone
does, it only carries it out. Time comes in as `now`; the machine reads no clock. Its only timers
are the inter-digit timeout, the end-of-call screen, and the once-a-second in-call refresh.

Blind transfer (RFC 3515), like a desk phone's XFER key: in a call, `A` (the transfer key of the
4x4 keypad) opens the transfer screen; digits key the target, `#` sends it (or the inter-digit
timeout does), `*` erases and, when nothing is left, goes back to the call; `A` again also goes
back. The control socket's `transfer TARGET` does the same at once. The far end then calls the
target: on success our leg ends ("Transferred"), on failure the call goes on. As the transferee,
`TransferStarted` puts the current call aside while the new one is placed (state calling); if that
call fails the original call comes back (RFC 5589 §6.2), if it is answered it replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from deskphone.phone import events as ev
from deskphone.phone.screens import (
    CallingScreen,
    DialingScreen,
    EndedScreen,
    ErrorScreen,
    IdleScreen,
    InCallScreen,
    MitmScreen,
    NotSecureScreen,
    OffHookScreen,
    RingingScreen,
    SasScreen,
    StatsScreen,
    TransferScreen,
)


class CallState(StrEnum):
    IDLE = "idle"
    OFFHOOK = "offhook"
    DIALING = "dialing"
    CALLING = "calling"
    RINGING = "ringing"
    IN_CALL = "in_call"
    TRANSFER_DIALING = "transfer_dialing"
    TRANSFERRING = "transferring"
    ENDED = "ended"


class Security(StrEnum):
    NONE = "none"
    SECURING = "securing"
    SECURE = "secure"
    VERIFIED = "verified"
    NOT_SECURE = "not_secure"
    MISMATCH = "mismatch"


DIAL_KEYS = frozenset("0123456789")
TRANSFER_KEY = "A"  # the top key of the 4x4 keypad's letter column, labelled XFER
STATS_KEY = "B"  # the 4x4 keypad's second letter key, labelled INFO: call quality on/off
REVERIFY_KEY = "C"  # labelled SAS: forget the verification and compare the words again
IN_CALL_STATES = frozenset({"in_call", "transfer_dialing", "transferring"})
# How a PeerWarning is put on the call screens.
PEER_WARNINGS = {"new_zid": "NEW PHONE ID", "zid_mismatch": "WRONG PHONE ID"}
MAX_DIGITS = 32  # E.164 is 15 digits; leave room for prefixes and PINs, never grow unbounded

# How each end-of-call reason is put to a person: (screen title, tone).
END_REASONS: dict[str, tuple[str, str | None]] = {
    "busy": ("Busy", "busy"),
    "declined": ("Declined", "busy"),
    "unreachable": ("Unreachable", "reorder"),
    "timeout": ("No answer", "reorder"),
    "cancelled": ("Call ended", None),
    "remote_hangup": ("Call ended", "busy"),
    "local_hangup": ("Call ended", None),
    "failed": ("Call failed", "reorder"),
    "not_secure": ("Not secure", "not_secure"),
    "transferred": ("Transferred", None),
}


@dataclass(frozen=True)
class MachineSettings:
    extension: str
    display_name: str
    status: str = "LAN"
    interdigit_timeout: float = 4.0
    ended_screen_seconds: float = 3.0
    # Nobody answers: the caller gives up (CANCEL) after no_answer_seconds, and a ringing phone
    # stops after ring_seconds with 480 (RFC 3261 §21.4.18) so a call never rings forever.
    no_answer_seconds: float = 90.0
    ring_seconds: float = 120.0
    # True when a dialled string is complete by the dial plan (fixed-length extensions), so the
    # call goes out without waiting for '#' or the timeout.
    is_complete: Callable[[str], bool] | None = None


Commands = list[ev.Command]


class PhoneMachine:
    def __init__(self, settings: MachineSettings) -> None:
        self.settings = settings
        self.state = CallState.IDLE
        self.security = Security.NONE
        self.status = settings.status
        self.off_hook = False
        self.digits = ""
        self.peer: str | None = None
        self.sas: str | None = None
        self.not_secure_reason = ""
        self.incoming_call_id: str | None = None
        self.held = False
        self.last_dtmf = ""
        self.answered_at: float | None = None
        self.peer_warning: str | None = None  # a PEER_WARNINGS key for the current call
        self.lan_warning = ""
        self.transfer_target: str | None = None  # keyed/sent transfer target (transferor)
        self.transferred_from: dict[str, object] | None = None  # transferee: the call set aside
        self.transfer_failed = ""  # why the last transfer of this call did not happen
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
        handler = TRANSITIONS[self.state].get(type(event))
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
            return self._send_transfer(self.transfer_target or "")
        if kind == "ended" and self.state is CallState.ENDED and not self.off_hook:
            return self._go_idle()
        if kind == "no_answer" and self.state is CallState.CALLING:
            return [ev.HangUp(), *self._end("No answer", self.peer or "", "reorder")]
        if kind == "ring_timeout" and self.state is CallState.RINGING:
            call_id, caller = self.incoming_call_id or "", self.peer
            commands = [ev.RejectCall(call_id, 480), *self._go_idle()]
            if caller:
                self.status = f"Missed: {caller}"
                commands.append(self._show(self._idle_screen()))
            return commands
        if kind == "refresh" and self.state in IN_CALL_STATES:
            self._set_timer("refresh", now + 1.0)
            return self._refresh_call_screen(only_if_changed=True)
        return []

    def snapshot(self) -> dict[str, object]:
        """What the control socket's `state` reports."""
        lines: list[str] = getattr(self.screen, "lines", lambda: [])()
        return {
            "call": self.state.value,
            "security": self.security.value,
            "sas": self.sas,
            "peer": self.peer,
            "off_hook": self.off_hook,
            "digits": self.digits,
            "held": self.held,
            "dtmf": self.last_dtmf,
            "stats_shown": self.show_stats,
            "screen": "\n".join(lines),
            "peer_warning": self.peer_warning,
            "lan_warning": self.lan_warning or None,
            "transfer": self.transfer_target,
            "transfer_failed": self.transfer_failed or None,
        }

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
        self.sas = None
        self.security = Security.NONE
        self.not_secure_reason = ""
        self.incoming_call_id = None
        self.held = False
        self.last_dtmf = ""
        self.answered_at = None
        self.peer_warning = None
        self.transfer_target = None
        self.transferred_from = None
        self.transfer_failed = ""
        self.show_stats = False
        self.stats = None
        self._clear_timer()

    def _go_idle(self) -> Commands:
        self._reset_call()
        self.state = CallState.IDLE
        return [ev.PlayTone(None), ev.Ring(False), self._show(self._idle_screen())]

    def _call_screen(self) -> object:
        peer = self.peer or ""
        warning = PEER_WARNINGS.get(self.peer_warning or "", "")
        if self.security is Security.MISMATCH:
            return MitmScreen(peer=f"{warning} {peer}".strip(), sas=self.sas)
        if self.state is CallState.TRANSFER_DIALING:
            return TransferScreen(peer=peer, digits=self.transfer_target or "")
        if self.state is CallState.TRANSFERRING:
            return TransferScreen(peer=peer, digits=self.transfer_target or "",
                                  progress="Transferring…")
        if self.show_stats:
            stats = self.stats or ev.CallStats("-", 0.0, 0.0, None)
            return StatsScreen(codec=stats.codec, loss_pct=stats.loss_pct,
                               jitter_ms=stats.jitter_ms, rtt_ms=stats.rtt_ms)
        if self.security is Security.NOT_SECURE:
            return NotSecureScreen(peer=peer, reason=self.not_secure_reason)
        if self.security is Security.SECURE and self.sas is not None:
            return SasScreen(peer=peer, sas=self.sas, warning=warning)
        duration = 0 if self.answered_at is None else int(self._now - self.answered_at)
        return InCallScreen(peer=peer, duration_s=max(0, duration), security=self.security.value,
                            sas=self.sas, verified=self.security is Security.VERIFIED,
                            held=self.held, dtmf=self.last_dtmf, warning=warning)

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
        self._reset_call()
        self.state = CallState.RINGING
        self.incoming_call_id = event.call_id
        self.peer = event.display_name or event.caller
        self._set_timer("ring_timeout", self._now + self.settings.ring_seconds)
        return [ev.PlayTone(None), ev.Ring(True),
                self._show(RingingScreen(caller=event.caller, display_name=event.display_name))]

    def _answer(self, _: ev.HookOff) -> Commands:
        call_id = self.incoming_call_id or ""
        self.state = CallState.IN_CALL
        self.answered_at = self._now
        self._set_timer("refresh", self._now + 1.0)
        return [ev.Ring(False), ev.AnswerCall(call_id), *self._refresh_call_screen()]

    def _missed(self, event: ev.CallFinished) -> Commands:
        caller = self.peer
        commands = self._go_idle()
        if caller and event.reason in ("cancelled", "remote_hangup", "timeout"):
            self.status = f"Missed: {caller}"
            commands.append(self._show(self._idle_screen()))
        return commands

    def _hang_up(self, _: ev.HookOn) -> Commands:
        return [ev.HangUp(), *self._go_idle()]

    def _far_ringing(self, _: ev.CallRinging) -> Commands:
        return [ev.PlayTone("ringback"),
                self._show(CallingScreen(peer=self.peer or "", progress="Ringing…"))]

    def _connected(self, _: ev.CallConnected) -> Commands:
        self.transferred_from = None  # a transfer's new call replaces the old one
        self.state = CallState.IN_CALL
        self.answered_at = self._now
        self._set_timer("refresh", self._now + 1.0)
        return [ev.PlayTone(None), *self._refresh_call_screen()]

    def _ended(self, event: ev.CallFinished) -> Commands:
        title, tone = END_REASONS.get(event.reason, ("Call ended", "reorder"))
        detail = event.detail or self.peer or ""
        if event.reason == "failed" and event.code:
            detail = f"{event.code} {event.detail}".strip()
        return self._end(title, detail, tone)

    def _failed_locally(self, event: ev.CallFailedLocally) -> Commands:
        return self._end(event.title, event.detail, "reorder", error=True)

    def _in_call_key(self, event: ev.KeyPressed) -> Commands:
        # On the SAS or POSSIBLE MITM screen, '#' = "it matches", '*' = "it does not".
        if self.security in (Security.SECURE, Security.MISMATCH) and self.sas is not None:
            if event.key == "#":
                return self._confirm(event)
            if event.key == "*":
                return self._reject_sas(event)
        if event.key == STATS_KEY:
            return self._toggle_stats(event)
        if event.key == REVERIFY_KEY:
            return self._reverify(event)
        if event.key == TRANSFER_KEY:
            self.state = CallState.TRANSFER_DIALING
            self.transfer_target = ""
            return self._refresh_call_screen()
        return [ev.SendDtmf(event.key)]

    def _reverify(self, _: ev.Event) -> Commands:
        if self.security is not Security.VERIFIED or self.sas is None:
            return []  # only a verified call can be un-verified
        self.security = Security.SECURE
        self.show_stats = False
        return [ev.ClearVerified(), *self._refresh_call_screen()]

    def _toggle_stats(self, _: ev.Event) -> Commands:
        self.show_stats = not self.show_stats
        return self._refresh_call_screen()

    def _call_stats(self, event: ev.CallStats) -> Commands:
        self.stats = event
        return self._refresh_call_screen(only_if_changed=True) if self.show_stats else []

    # -- blind transfer (RFC 3515) ------------------------------------------------------------

    def _transfer_key(self, event: ev.KeyPressed) -> Commands:
        key, target = event.key, self.transfer_target or ""
        if key in DIAL_KEYS:
            if len(target) >= MAX_DIGITS:
                return [ev.PlayTone("error")]
            self.transfer_target = target + key
            self._set_timer("interdigit", self._now + self.settings.interdigit_timeout)
            return self._refresh_call_screen()
        if key == "#" and target:
            return self._send_transfer(target)
        if (key == "*" and not target) or key == TRANSFER_KEY:
            return self._back_to_call()
        if key == "*":
            self.transfer_target = target[:-1]
            return self._refresh_call_screen()
        return []

    def _transfer_now(self, event: ev.TransferDialed) -> Commands:
        return self._send_transfer(event.target)

    def _send_transfer(self, target: str) -> Commands:
        if not target:
            return self._back_to_call()
        self.state = CallState.TRANSFERRING
        self.transfer_target = target
        self._set_timer("refresh", self._now + 1.0)
        return [ev.TransferCall(target), *self._refresh_call_screen()]

    def _back_to_call(self) -> Commands:
        self.state = CallState.IN_CALL
        self.transfer_target = None
        self._set_timer("refresh", self._now + 1.0)
        return self._refresh_call_screen()

    def _transfer_done(self, _: ev.TransferSucceeded) -> Commands:
        return [ev.HangUp(), *self._end("Transferred", self.transfer_target or "", None)]

    def _transfer_refused(self, event: ev.TransferAborted) -> Commands:
        self.transfer_failed = event.detail
        commands = self._back_to_call()
        return [ev.PlayTone("error"), *commands]

    def _transferred_away(self, event: ev.TransferStarted) -> Commands:
        # We are the transferee: keep what the person saw of the call set aside.
        saved: dict[str, object] = {"peer": self.peer, "sas": self.sas, "security": self.security,
                 "answered_at": self.answered_at, "not_secure_reason": self.not_secure_reason,
                 "held": self.held, "peer_warning": self.peer_warning}
        self._reset_call()
        self.transferred_from = saved
        self.peer = event.target
        self.state = CallState.CALLING
        return [ev.PlayTone(None),
                self._show(CallingScreen(peer=event.target, progress="Transferring…"))]

    def _transfer_fell_through(self, event: ev.TransferAborted) -> Commands:
        saved = self.transferred_from
        if saved is None:
            self.ignored += 1
            return []
        self._reset_call()
        self.transfer_failed = event.detail
        self.peer = saved["peer"]  # type: ignore[assignment]
        self.sas = saved["sas"]  # type: ignore[assignment]
        self.security = saved["security"]  # type: ignore[assignment]
        self.answered_at = saved["answered_at"]  # type: ignore[assignment]
        self.not_secure_reason = saved["not_secure_reason"]  # type: ignore[assignment]
        self.held = saved["held"]  # type: ignore[assignment]
        self.peer_warning = saved["peer_warning"]  # type: ignore[assignment]
        self.state = CallState.IN_CALL
        self._set_timer("refresh", self._now + 1.0)
        return [ev.PlayTone("error"), *self._refresh_call_screen()]

    def _peer_warning(self, event: ev.PeerWarning) -> Commands:
        if event.kind not in PEER_WARNINGS:
            self.ignored += 1
            return []
        if event.kind == "zid_mismatch" or self.peer_warning is None:
            self.peer_warning = event.kind
        if event.kind == "zid_mismatch" and self.security is not Security.MISMATCH:
            # The ZRTP endpoint is not the phone the LAN announced: treat as a possible MITM.
            self.security = Security.MISMATCH
            return [ev.PlayTone("mitm"), *self._refresh_call_screen()]
        if self.state in IN_CALL_STATES:
            return self._refresh_call_screen()
        return []

    def _lan_warning(self, event: ev.LanWarning) -> Commands:
        self.lan_warning = event.text
        if self.state is CallState.IDLE:
            return [self._show(self._idle_screen())]
        return []

    def _confirm(self, _: ev.Event) -> Commands:
        if self.sas is None or self.security not in (Security.SECURE, Security.MISMATCH,
                                                     Security.VERIFIED):
            return []  # nothing to confirm: never call an unsecured call verified
        self.security = Security.VERIFIED
        return [ev.ConfirmSas(), ev.PlayTone(None), *self._refresh_call_screen()]

    def _reject_sas(self, _: ev.Event) -> Commands:
        if self.sas is None or self.security not in (Security.SECURE, Security.MISMATCH,
                                                     Security.VERIFIED):
            return []
        # The two people read different words: someone is in the middle (RFC 6189 §7).
        self.security = Security.MISMATCH
        return [ev.RejectSas(), ev.PlayTone("mitm"), *self._refresh_call_screen()]

    def _securing(self, _: ev.SecuringStarted) -> Commands:
        if self.security is Security.MISMATCH:
            return []
        self.security = Security.SECURING
        return self._refresh_call_screen()

    def _secured(self, event: ev.Secured) -> Commands:
        self.sas = event.sas
        if self.security is Security.MISMATCH:
            return self._refresh_call_screen()  # a mismatch stands until the SAS is compared
        self.security = Security.VERIFIED if event.verified else Security.SECURE
        return [ev.PlayTone(None), *self._refresh_call_screen()]

    def _not_secure(self, event: ev.CallNotSecure) -> Commands:
        if self.security is Security.MISMATCH:
            return []
        self.security = Security.NOT_SECURE
        self.not_secure_reason = event.reason
        return [ev.PlayTone("not_secure"), *self._refresh_call_screen()]

    def _mismatch(self, event: ev.PossibleMitm) -> Commands:
        self.security = Security.MISMATCH
        if event.sas is not None:
            self.sas = event.sas
        return [ev.PlayTone("mitm"), *self._refresh_call_screen()]

    def _dtmf(self, event: ev.DtmfReceived) -> Commands:
        self.last_dtmf = (self.last_dtmf + event.key)[-12:]
        return self._refresh_call_screen()

    def _hold(self, _: ev.HoldToggled) -> Commands:
        self.held = not self.held
        return [ev.SetHold(self.held), *self._refresh_call_screen()]

    def _ended_lift(self, event: ev.HookOff) -> Commands:
        return self._lift(event)

    def _ended_incoming(self, event: ev.CallArrived) -> Commands:
        return self._incoming(event)


H = PhoneMachine
# ZRTP's progress and the SAS keys mean the same in every state of an answered call (talking,
# keying a transfer target, waiting for the transfer's outcome).
SECURITY_ROWS: dict[type, Callable[..., Commands]] = {
    ev.SasConfirmed: H._confirm,
    ev.SasRejected: H._reject_sas,
    ev.SecuringStarted: H._securing,
    ev.Secured: H._secured,
    ev.CallNotSecure: H._not_secure,
    ev.PossibleMitm: H._mismatch,
    ev.DtmfReceived: H._dtmf,
}
# The whole call-state machine: {state: {event type: handler}}. Anything else is ignored.
TRANSITIONS: dict[CallState, dict[type, Callable[..., Commands]]] = {
    CallState.IDLE: {
        ev.HookOff: H._lift,
        ev.DialRequested: H._dial_now,
        ev.CallArrived: H._incoming,
        ev.StatusChanged: H._status,
        ev.LanWarning: H._lan_warning,
    },
    CallState.OFFHOOK: {
        ev.HookOn: H._put_down,
        ev.KeyPressed: H._first_key,
        ev.DialRequested: H._dial_now,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
    },
    CallState.DIALING: {
        ev.HookOn: H._put_down,
        ev.KeyPressed: H._dial_key,
        ev.DialRequested: H._dial_now,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
    },
    CallState.CALLING: {
        ev.HookOn: H._hang_up,
        ev.TransferAborted: H._transfer_fell_through,
        ev.PeerWarning: H._peer_warning,
        ev.CallRinging: H._far_ringing,
        ev.CallConnected: H._connected,
        ev.CallFinished: H._ended,
        ev.CallFailedLocally: H._failed_locally,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
    },
    CallState.RINGING: {
        ev.HookOff: H._answer,
        ev.CallFinished: H._missed,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
    },
    CallState.IN_CALL: {
        ev.HookOn: H._hang_up,
        ev.CallFinished: H._ended,
        ev.KeyPressed: H._in_call_key,
        **SECURITY_ROWS,
        ev.HoldToggled: H._hold,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
        ev.TransferDialed: H._transfer_now,
        ev.TransferStarted: H._transferred_away,
        ev.PeerWarning: H._peer_warning,
        ev.StatsToggled: H._toggle_stats,
        ev.CallStats: H._call_stats,
        ev.ReverifyRequested: H._reverify,
    },
    CallState.TRANSFER_DIALING: {
        ev.HookOn: H._hang_up,
        ev.CallFinished: H._ended,
        ev.KeyPressed: H._transfer_key,
        ev.TransferDialed: H._transfer_now,
        ev.TransferStarted: H._transferred_away,
        **SECURITY_ROWS,
        ev.PeerWarning: H._peer_warning,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
    },
    CallState.TRANSFERRING: {
        ev.HookOn: H._hang_up,
        ev.CallFinished: H._ended,
        ev.TransferSucceeded: H._transfer_done,
        ev.TransferAborted: H._transfer_refused,
        **SECURITY_ROWS,
        ev.PeerWarning: H._peer_warning,
        ev.CallArrived: H._busy_reject,
        ev.StatusChanged: H._status,
    },
    CallState.ENDED: {
        ev.HookOn: H._put_down,
        ev.HookOff: H._ended_lift,
        ev.DialRequested: H._dial_now,
        ev.CallArrived: H._ended_incoming,
        ev.StatusChanged: H._status,
    },
}
# A LAN warning is remembered in every state (the idle screen shows it when the phone is idle).
for _rows in TRANSITIONS.values():
    _rows.setdefault(ev.LanWarning, H._lan_warning)
