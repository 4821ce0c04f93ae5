"""The phone's side of the call history: noting the current call, and browsing the list.

`CallTracker` follows one call from its start (placed or arrived) through its answer to its end
and says what to record; `HistoryBrowser` is the list a person scrolls with the keypad. Both
are pure and owned by the machine; neither knows how the history is stored.

Keys in the list (a 4x3 keypad has them all): 2 / 8 move up / down (newer / older), # calls the
shown entry back, * closes the list. On the idle screen # opens it and D redials; with the
handset lifted and nothing dialled, # redials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from deskphone.phone.feature_events import RecordCall
from deskphone.phone.history import CallRecord

HISTORY_KEY = "#"  # on the idle screen: open the list
REDIAL_KEY = "D"  # on the idle screen (4x4 keypad, labelled REDIAL); '#' off-hook on any keypad
MUTE_KEY = "D"  # in a call the same key mutes (digits are DTMF there); ctl mute on any keypad
UP_KEYS = frozenset("2")
DOWN_KEYS = frozenset("8")
CALL_BACK_KEY = "#"
CLOSE_KEY = "*"


@dataclass
class TrackedCall:
    """One call's history entry in the making (a held call keeps its own)."""

    direction: str
    peer: str
    name: str
    started: float
    answered: float | None = None


class CallTracker:
    """The one call being noted; `finish` says what to record (and forgets the call)."""

    def __init__(self) -> None:
        self._call: TrackedCall | None = None

    def begin(self, direction: str, peer: str, name: str, now: float) -> None:
        self._call = TrackedCall(direction, peer, name, now)

    def set_aside(self) -> TrackedCall | None:
        """The call leaves the earpiece (held): its entry goes with it, to `resume` later."""
        call, self._call = self._call, None
        return call

    def resume(self, call: TrackedCall | None) -> None:
        self._call = call

    def answered(self, now: float) -> None:
        if self._call is not None and self._call.answered is None:
            self._call.answered = now

    def finish(self, now: float, security: str) -> RecordCall | None:
        call, self._call = self._call, None
        return self.record(call, now, security)

    @staticmethod
    def record(call: TrackedCall | None, now: float, security: str) -> RecordCall | None:
        """What to record of `call`, ended at `now` with its own `security`."""
        if call is None or not call.peer:
            return None
        direction = call.direction
        if direction == "incoming" and call.answered is None:
            direction = "missed"
        return RecordCall(direction=direction, peer=call.peer, name=call.name,
                          started=call.started, answered=call.answered, ended=now,
                          security=security if call.answered is not None else "none")


class Browse(Enum):
    MOVED = "moved"
    CALL = "call"
    CLOSE = "close"
    NOTHING = "nothing"


class HistoryBrowser:
    """The history list on the screen: which entry is shown (0 = newest)."""

    def __init__(self, entries: tuple[CallRecord, ...]) -> None:
        self.entries = entries
        self.index = 0

    @property
    def current(self) -> CallRecord | None:
        return self.entries[self.index] if self.entries else None

    def update(self, entries: tuple[CallRecord, ...]) -> None:
        # A call that ends while the list is open becomes the newest: keep showing the same one.
        shown = self.current
        self.entries = entries
        self.index = entries.index(shown) if shown in entries else 0

    def press(self, key: str) -> Browse:
        if key == CLOSE_KEY:
            return Browse.CLOSE
        if key == CALL_BACK_KEY:
            return Browse.CALL if self.entries else Browse.NOTHING
        step = -1 if key in UP_KEYS else 1 if key in DOWN_KEYS else 0
        if not step or not 0 <= self.index + step < len(self.entries):
            return Browse.NOTHING
        self.index += step
        return Browse.MOVED


def format_when(started: float) -> str:
    """An entry's start as the panel shows it: "02 Dec 14:05" in the phone's local time (a
    conversion of the stored time, not a clock reading)."""
    return time.strftime("%d %b %H:%M", time.localtime(started))
