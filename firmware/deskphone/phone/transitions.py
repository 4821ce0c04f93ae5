"""Everything that moves the phone's call state, in one table (h11's `_state.py` habit).

`TRANSITIONS` is `{call state: {event type: handler name}}`. Each name is a handler of
`PhoneMachine` (`"lift"` is `PhoneMachine._lift`); the handler computes the commands and sets the
next state. An event with no row in the current state is ignored and counted, as a real desk
phone ignores a key pressed while it rings. Reading this file tells where every event can lead
without reading the handlers; `machine.py` binds the names once at import and refuses to load
if one names no handler (`bind_handlers`), so a typo cannot wait for the first call to surface.

This module knows the vocabulary and the events, never the machine (no import of it): the
table is data, the machine is behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskphone.phone import events as ev
from deskphone.phone.idle_panel import PANEL_EVENTS
from deskphone.phone.vocabulary import CallState

__all__ = ["SECURITY_ROWS", "TRANSITIONS", "bind_handlers"]

# ZRTP's progress and the SAS keys mean the same in every state of an answered call (talking,
# keying a transfer target, waiting for the transfer's outcome).
SECURITY_ROWS: dict[type[ev.Event], str] = {
    ev.SasConfirmed: "verification.confirm",
    ev.SasRejected: "verification.reject_sas",
    ev.SecuringStarted: "verification.zrtp_outcome",
    ev.Secured: "verification.zrtp_outcome",
    ev.CallNotSecure: "verification.zrtp_outcome",
    ev.PossibleMitm: "verification.zrtp_outcome",
    ev.DtmfReceived: "dtmf",
}
# The whole call-state machine: {state: {event type: handler name}}. Anything else is ignored.
TRANSITIONS: dict[CallState, dict[type[ev.Event], str]] = {
    CallState.IDLE: {
        ev.HookOff: "lift",
        ev.KeyPressed: "idle_key",  # history list and redial (phone/history_keys.py)
        ev.DialRequested: "dial_now",
        ev.CallArrived: "incoming.arrived",
        ev.StatusChanged: "panel_changed",
        ev.LanWarning: "panel_changed",
    },
    CallState.OFFHOOK: {
        ev.HookOn: "put_down",
        ev.KeyPressed: "dialing.first_key",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "incoming.busy",
        ev.StatusChanged: "panel_changed",
    },
    CallState.DIALING: {
        ev.HookOn: "put_down",
        ev.KeyPressed: "dialing.key",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "incoming.busy",
        ev.StatusChanged: "panel_changed",
    },
    CallState.CALLING: {
        ev.HookOn: "hang_up",
        ev.TransferAborted: "transfer_flow.fell_through",
        ev.PeerWarning: "verification.peer_warning",
        ev.CallRinging: "far_ringing",
        ev.CallConnected: "connected",
        ev.CallFinished: "ended",
        ev.CallFailedLocally: "failed_locally",
        ev.CallArrived: "incoming.busy",
        ev.StatusChanged: "panel_changed",
    },
    CallState.RINGING: {
        ev.HookOff: "incoming.answer",
        ev.AnswerRequested: "several.answer_ringing",
        ev.KeyPressed: "volume.ringing_key",  # 2/8 the ringer, D answers (several_calls.py)
        ev.CallFinished: "incoming.missed",
        ev.CallArrived: "incoming.busy",
        ev.StatusChanged: "panel_changed",
    },
    CallState.IN_CALL: {
        # With another call, down and up again quickly is a hook flash (phone/hook_flash.py).
        ev.HookOn: "flash.hook_on",
        ev.HookOff: "flash.hook_off",
        ev.CallFinished: "ended",
        ev.KeyPressed: "in_call_key",
        **SECURITY_ROWS,
        ev.HoldToggled: "hold",
        ev.CallArrived: "forward.call_waiting",  # forwarded (phone/forwarding.py), or it waits
        ev.AnswerRequested: "several.answer_other",
        ev.SwapRequested: "several.swap",
        ev.ConferenceRequested: "several.conference",
        ev.AttendedTransferRequested: "several.transfer_attended",
        ev.CallReplaced: "several.call_replaced",
        ev.StatusChanged: "panel_changed",
        ev.TransferDialed: "transfer_flow.dialled",
        ev.TransferStarted: "transfer_flow.away",
        ev.PeerWarning: "verification.peer_warning",
        ev.StatsToggled: "quality.toggle",
        ev.CallStats: "quality.received",
        ev.ReverifyRequested: "verification.reverify",
        ev.MuteToggled: "toggle_mute",
    },
    CallState.TRANSFER_DIALING: {
        ev.HookOn: "hang_up",
        ev.CallFinished: "ended",
        ev.KeyPressed: "transfer_flow.key",
        ev.TransferDialed: "transfer_flow.dialled",
        ev.TransferStarted: "transfer_flow.away",
        **SECURITY_ROWS,
        ev.PeerWarning: "verification.peer_warning",
        ev.CallArrived: "incoming.busy",
        ev.StatusChanged: "panel_changed",
    },
    CallState.TRANSFERRING: {
        ev.HookOn: "hang_up",
        ev.CallFinished: "ended",
        ev.TransferSucceeded: "transfer_flow.done",
        ev.TransferAborted: "transfer_flow.refused",
        ev.TransferProgress: "transfer_flow.progress",
        **SECURITY_ROWS,
        ev.PeerWarning: "verification.peer_warning",
        ev.CallArrived: "incoming.busy",
        ev.StatusChanged: "panel_changed",
    },
    # No call in the earpiece, one on hold (issue 15): lifting the handset or the swap key brings
    # it back; putting the handset down rings the reminder.
    CallState.HELD: {
        ev.HookOff: "several.swap",
        ev.HookOn: "several.remind",
        ev.KeyPressed: "several.held_key",
        ev.SwapRequested: "several.swap",
        ev.AnswerRequested: "several.answer_other",
        ev.CallArrived: "incoming.arrived",
        ev.StatusChanged: "panel_changed",
    },
    CallState.ENDED: {
        ev.HookOn: "put_down",
        ev.HookOff: "lift",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "incoming.arrived",
        ev.StatusChanged: "panel_changed",
    },
}
# What the idle screen shows is kept in every state (and shown when the phone is idle); a new
# volume level shows over whatever screen is up (phone/volume_keys.py).
for _rows in TRANSITIONS.values():
    _rows.setdefault(ev.VolumeChanged, "volume.changed")
    _rows.setdefault(ev.ForwardSet, "forward.set")
    for _event in PANEL_EVENTS:  # status, LAN warning, history, contacts, DND, clock
        _rows.setdefault(_event, "panel_changed")


def bind_handlers(machine: type, components: dict[str, type]) -> dict[
        CallState, dict[type[ev.Event], Callable[..., Any]]]:
    """Each name in `TRANSITIONS` as the handler it names, checked once at import: `NAME` is the
    method `_NAME` of `machine` (the PhoneMachine class, passed in so this module never imports
    it), `PART.NAME` the method `NAME` of the object the machine owns as `PART`, of the class
    `components[PART]` (`several.swap`: `machine.several.swap`)."""
    bound: dict[CallState, dict[type[ev.Event], Callable[..., Any]]] = {}
    for state, rows in TRANSITIONS.items():
        bound[state] = {}
        for event_type, name in rows.items():
            part, _, method = name.rpartition(".")
            owner = components.get(part) if part else machine
            handler = getattr(owner, method if part else f"_{name}", None)
            if owner is None or not callable(handler):
                raise TypeError(f"phone TRANSITIONS[{state.value}][{event_type.__name__}] names "
                                f"{name!r}, which is no handler of {machine.__name__} or its "
                                f"parts {sorted(components)}")
            bound[state][event_type] = _on_part(part, handler) if part else handler
    return bound


def _on_part(part: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    def call(machine: object, event: ev.Event) -> Any:
        return handler(getattr(machine, part), event)
    return call
