"""The idle screen and what it shows between calls: the registration status, a LAN warning, the
missed count and the history list, do not disturb, the time, the voicemail lamp; and the
contacts that name a caller.

`IdlePanel` owns that state. The app tells it what changed through events (`StatusChanged`,
`HistoryChanged`, `DndSet`...), which mean the same in every call state; `apply` takes one and
says whether it was one of these, the machine redrawing the idle screen when the phone is idle.
It never sees the machine and never changes the call state.
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.contacts import ContactBook
from deskphone.phone.history_keys import HistoryKeys
from deskphone.phone.screens import IdleScreen
from deskphone.phone.settings import MachineSettings

# What the panel hears of, in any call state (rows of the one table, transitions.py).
PANEL_EVENTS = (ev.StatusChanged, ev.LanWarning, ev.HistoryChanged, ev.ContactsChanged,
                ev.DndSet, ev.ClockChanged, ev.VoicemailChanged)


class IdlePanel:
    def __init__(self, settings: MachineSettings) -> None:
        self.settings = settings
        self.status = settings.status
        self.lan_warning = ""
        self.history = HistoryKeys()  # call history: missed count, redial, the list
        self.contacts = ContactBook()  # names and verified marks for the ringing screen
        self.dnd = settings.dnd  # [phone] dnd at start; ctl dnd on|off (DndSet) after
        self.clock_text: str | None = None  # the app's wall clock, minute by minute
        self.date_text: str | None = None
        self.forwarding = ""  # where calls go ("Fwd 205"), set by phone/forwarding.py
        self.mailboxes: dict[str, ev.VoicemailChanged] = {}  # per account, the last summary

    def apply(self, event: ev.Event) -> bool:
        """Take one of PANEL_EVENTS; True when it was one (the idle screen may have changed)."""
        match event:
            case ev.StatusChanged(status=status):
                self.status = status
            case ev.LanWarning(text=text):
                self.lan_warning = text
            case ev.HistoryChanged():
                self.history.changed(event)
            case ev.ContactsChanged(book=book):
                self.contacts = book
            case ev.DndSet(on=on):
                self.dnd = on
            case ev.VoicemailChanged(account=account):
                self.mailboxes[account] = event
            case ev.ClockChanged(text=text, date=date):
                self.clock_text, self.date_text = text, date
            case _:
                return False
        return True

    def screen(self) -> object:
        if self.history.browser is not None:  # the history list is open over the idle screen
            return self.history.screen()
        boxes = self.mailboxes.values()
        lamp = sum(b.new for b in boxes) if any(b.waiting for b in boxes) else None
        return IdleScreen(extension=self.settings.extension,
                          display_name=self.settings.display_name, status=self.status,
                          warning=self.lan_warning, missed=self.history.missed,
                          dnd=self.dnd, clock=self.clock_text,
                          date=self.date_text, forward=self.forwarding,
                          voicemail=lamp)

    def voicemail(self) -> dict[str, object]:
        """The lamp: messages waiting on any account, and the new voice messages of all."""
        boxes = self.mailboxes.values()
        return {"waiting": any(b.waiting for b in boxes), "new": sum(b.new for b in boxes),
                "old": sum(b.old for b in boxes)}
