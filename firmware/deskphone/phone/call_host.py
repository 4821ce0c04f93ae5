"""What the machine's parts (several_calls.py, transfer_flow.py, dialing.py, incoming_calls.py
and the others machine.PARTS lists) use of the phone machine.

The parts are objects the machine owns whose handlers are rows of the one table; they see the
machine only as this protocol — its public call state and the helpers every handler uses,
never its private fields — so machine.py is not imported here (no cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from deskphone.phone import events as ev
from deskphone.phone.call_security import CallSecurity
from deskphone.phone.other_calls import OtherCalls
from deskphone.phone.settings import MachineSettings
from deskphone.phone.vocabulary import CallState, KeyNames

if TYPE_CHECKING:
    from deskphone.phone.history_view import CallTracker
    from deskphone.phone.idle_panel import IdlePanel
    from deskphone.phone.transfer import BlindTransfer

Commands = list[ev.Command]


class SeveralCallsPart(Protocol):
    """What the other parts use of several_calls.py (not imported: it imports this module)."""

    def ringing_key(self, event: ev.KeyPressed) -> Commands: ...
    def call_waiting(self, event: ev.CallArrived) -> Commands: ...
    def go_idle_or_held(self) -> Commands: ...


class IncomingCallsPart(Protocol):
    """What the other parts use of incoming_calls.py (not imported: it imports this module)."""

    def ring_for(self, event: ev.CallArrived, since: float) -> Commands: ...
    def dnd_reject(self, event: ev.CallArrived) -> Commands: ...
    def answer_incoming(self) -> Commands: ...


class CallHost(Protocol):
    """What these handlers use of the machine (deskphone.phone.machine.PhoneMachine): its public
    call state and the helpers every handler uses — never its private fields."""

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
    digits: str
    transfer: BlindTransfer
    tracker: CallTracker
    idle: IdlePanel
    now: float
    pending: Commands
    screen: object
    key_names: KeyNames

    @property
    def several(self) -> SeveralCallsPart: ...
    @property
    def incoming(self) -> IncomingCallsPart: ...

    def reset_call(self) -> None: ...
    def show(self, screen: object) -> ev.ShowScreen: ...
    def go_idle(self) -> Commands: ...
    def hang_up_now(self) -> Commands: ...
    def refresh_call_screen(self, only_if_changed: bool = False) -> Commands: ...
    def set_timer(self, kind: str, at: float) -> None: ...
    def clear_timer(self) -> None: ...
    def place(self, target: str) -> Commands: ...
    def end(self, title: str, detail: str, tone: str | None, error: bool = False) -> Commands: ...
