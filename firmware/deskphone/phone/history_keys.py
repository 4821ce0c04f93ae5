"""What the machine knows of the call history, and what the keys do with it on the idle screen.

The stored history belongs to the app (deskphone.phone_files); the machine hears of it through
`HistoryChanged` and keeps only what it shows: the missed count on the idle screen, the number
redial calls, and the list while it is open (`HistoryBrowser`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deskphone.phone.events import CallArrived
from deskphone.phone.feature_events import HistoryChanged, MarkHistorySeen, RecordCall
from deskphone.phone.history import CallRecord
from deskphone.phone.history_view import (
    HISTORY_KEY,
    REDIAL_KEY,
    Browse,
    HistoryBrowser,
    format_when,
)
from deskphone.phone.screens.history import HistoryScreen


@dataclass(frozen=True)
class KeyAction:
    call: str | None = None  # place a call to this target
    commands: tuple[MarkHistorySeen, ...] = field(default_factory=tuple)
    redraw: bool = False  # show the idle screen (or the list over it) again


class HistoryKeys:
    def __init__(self) -> None:
        self.entries: tuple[CallRecord, ...] = ()
        self.missed = 0
        self.last_dialled: str | None = None
        self.browser: HistoryBrowser | None = None

    def changed(self, event: HistoryChanged) -> None:
        self.entries, self.missed, self.last_dialled = (event.entries, event.missed,
                                                        event.last_dialled)
        if self.browser is not None:
            self.browser.update(event.entries)

    def press(self, key: str) -> KeyAction:
        """A key on the idle screen (handset down)."""
        if self.browser is None:
            if key == REDIAL_KEY and self.last_dialled:
                return KeyAction(call=self.last_dialled)
            if key != HISTORY_KEY:
                return KeyAction()
            self.browser = HistoryBrowser(self.entries)
            seen = (MarkHistorySeen(),) if self.missed else ()
            return KeyAction(commands=seen, redraw=True)
        result = self.browser.press(key)
        if result is Browse.CLOSE:
            self.browser = None
            return KeyAction(redraw=True)
        if result is Browse.CALL and self.browser.current is not None:
            return KeyAction(call=self.browser.current.peer)
        return KeyAction(redraw=result is Browse.MOVED)

    def screen(self) -> HistoryScreen:
        browser = self.browser
        entry = browser.current if browser is not None else None
        if browser is None or entry is None:
            return HistoryScreen(0, 0)
        return HistoryScreen(position=browser.index + 1, total=len(browser.entries),
                             direction=entry.direction, name=entry.name, peer=entry.peer,
                             when=format_when(entry.started), duration=entry.duration,
                             security=entry.security)

    @staticmethod
    def missed_now(event: CallArrived, now: float) -> RecordCall:
        """A caller turned away without ringing (busy, do not disturb): a missed call."""
        return RecordCall(direction="missed", peer=event.caller, name=event.display_name or "",
                          started=now, answered=None, ended=now, security="none")
