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
from deskphone.phone.vocabulary import CallState

__all__ = ["SECURITY_ROWS", "TRANSITIONS", "bind_handlers"]

# ZRTP's progress and the SAS keys mean the same in every state of an answered call (talking,
# keying a transfer target, waiting for the transfer's outcome).
SECURITY_ROWS: dict[type[ev.Event], str] = {
    ev.SasConfirmed: "confirm",
    ev.SasRejected: "reject_sas",
    ev.SecuringStarted: "securing",
    ev.Secured: "secured",
    ev.CallNotSecure: "not_secure",
    ev.PossibleMitm: "mismatch",
    ev.DtmfReceived: "dtmf",
}
# The whole call-state machine: {state: {event type: handler name}}. Anything else is ignored.
TRANSITIONS: dict[CallState, dict[type[ev.Event], str]] = {
    CallState.IDLE: {
        ev.HookOff: "lift",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "incoming",
        ev.StatusChanged: "status",
        ev.LanWarning: "lan_warning",
    },
    CallState.OFFHOOK: {
        ev.HookOn: "put_down",
        ev.KeyPressed: "first_key",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "busy_reject",
        ev.StatusChanged: "status",
    },
    CallState.DIALING: {
        ev.HookOn: "put_down",
        ev.KeyPressed: "dial_key",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "busy_reject",
        ev.StatusChanged: "status",
    },
    CallState.CALLING: {
        ev.HookOn: "hang_up",
        ev.TransferAborted: "transfer_fell_through",
        ev.PeerWarning: "peer_warning",
        ev.CallRinging: "far_ringing",
        ev.CallConnected: "connected",
        ev.CallFinished: "ended",
        ev.CallFailedLocally: "failed_locally",
        ev.CallArrived: "busy_reject",
        ev.StatusChanged: "status",
    },
    CallState.RINGING: {
        ev.HookOff: "answer",
        ev.AnswerRequested: "answer_ringing",
        ev.KeyPressed: "ringing_key",
        ev.CallFinished: "missed",
        ev.CallArrived: "busy_reject",
        ev.StatusChanged: "status",
    },
    CallState.IN_CALL: {
        ev.HookOn: "hang_up",
        ev.CallFinished: "ended",
        ev.KeyPressed: "in_call_key",
        **SECURITY_ROWS,
        ev.HoldToggled: "hold",
        ev.CallArrived: "call_waiting",
        ev.AnswerRequested: "answer_other",
        ev.SwapRequested: "swap",
        ev.AttendedTransferRequested: "transfer_attended",
        ev.CallReplaced: "call_replaced",
        ev.StatusChanged: "status",
        ev.TransferDialed: "transfer_now",
        ev.TransferStarted: "transferred_away",
        ev.PeerWarning: "peer_warning",
        ev.StatsToggled: "toggle_stats",
        ev.CallStats: "call_stats",
        ev.ReverifyRequested: "reverify",
    },
    CallState.TRANSFER_DIALING: {
        ev.HookOn: "hang_up",
        ev.CallFinished: "ended",
        ev.KeyPressed: "transfer_key",
        ev.TransferDialed: "transfer_now",
        ev.TransferStarted: "transferred_away",
        **SECURITY_ROWS,
        ev.PeerWarning: "peer_warning",
        ev.CallArrived: "busy_reject",
        ev.StatusChanged: "status",
    },
    CallState.TRANSFERRING: {
        ev.HookOn: "hang_up",
        ev.CallFinished: "ended",
        ev.TransferSucceeded: "transfer_done",
        ev.TransferAborted: "transfer_refused",
        **SECURITY_ROWS,
        ev.PeerWarning: "peer_warning",
        ev.CallArrived: "busy_reject",
        ev.StatusChanged: "status",
    },
    # No call in the earpiece, one on hold (issue 15): lifting the handset or the swap key brings
    # it back; putting the handset down rings the reminder.
    CallState.HELD: {
        ev.HookOff: "swap",
        ev.HookOn: "remind",
        ev.KeyPressed: "held_key",
        ev.SwapRequested: "swap",
        ev.AnswerRequested: "answer_other",
        ev.CallArrived: "incoming",
        ev.StatusChanged: "status",
    },
    CallState.ENDED: {
        ev.HookOn: "put_down",
        ev.HookOff: "lift",
        ev.DialRequested: "dial_now",
        ev.CallArrived: "incoming",
        ev.StatusChanged: "status",
    },
}
# A LAN warning is remembered in every state (the idle screen shows it when the phone is idle).
for _rows in TRANSITIONS.values():
    _rows.setdefault(ev.LanWarning, "lan_warning")


def bind_handlers(machine: type) -> dict[CallState, dict[type[ev.Event], Callable[..., Any]]]:
    """Each name in `TRANSITIONS` as the method of `machine` (the PhoneMachine class, passed in
    so this module never imports it) that it names, checked once at import."""
    bound: dict[CallState, dict[type[ev.Event], Callable[..., Any]]] = {}
    for state, rows in TRANSITIONS.items():
        bound[state] = {}
        for event_type, name in rows.items():
            handler = getattr(machine, f"_{name}", None)
            if not callable(handler):
                raise TypeError(f"phone TRANSITIONS[{state.value}][{event_type.__name__}] names "
                                f"{name!r}, which is no {machine.__name__} handler (_{name})")
            bound[state][event_type] = handler
    return bound
