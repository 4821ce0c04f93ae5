"""Idle: who this phone is, whether it can call, the time and the date."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    LARGE,
    MEDIUM,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    envelope,
    text_width,
)


@dataclass(frozen=True)
class IdleScreen(Screen):
    extension: str
    display_name: str
    status: str  # "Registered", "LAN only", "No network"...
    clock: str | None = None  # "14:05"
    warning: str = ""  # a LAN problem (our extension announced by another phone): wins the line
    missed: int = 0  # missed calls not yet looked at in the history ('#' opens it)
    dnd: bool = False  # do not disturb: calls are turned away
    date: str | None = None  # "Thu 3 Dec", beside the extension; None when the clock is unset
    forward: str = ""  # call forwarding is on: "Fwd 205" in the date's place
    voicemail: int | None = None  # messages waiting: the envelope, with the new ones' count
    notice: str = ""  # a moment's news ("Ringer 7/10" after a volume key): the status's place

    def layout(self) -> Layout:
        layout = Layout()
        # A LAN warning is the one thing on this line worth reading in full: it takes the clock's
        # place (the time comes back when the warning clears).
        clock = self.clock if not self.warning else None
        clock_width = 34 if clock else 0
        if self.voicemail is not None:  # the lamp: an envelope and the new messages, by the time
            count = str(min(self.voicemail, 99)) if self.voicemail else ""
            lamp_width = 13 + int(text_width(count, SMALL))
            left = WIDTH - clock_width - lamp_width - 1
            layout.shape(envelope(left, 1))
            if count:
                layout.text(count, 9, SMALL, x=left + 13, width=lamp_width - 12)
            clock_width += lamp_width + 1
        status = f"DND  {self.status}" if self.dnd else self.status
        status = self.notice or status
        layout.text(f"! {self.warning}" if self.warning else status, 9, SMALL,
                    width=WIDTH - clock_width - 2)
        if clock:
            layout.text(clock, 9, SMALL, align="right")
        layout.box(0, 12, WIDTH - 1, 12)
        layout.text(self.display_name, 35, LARGE, align="center")
        # The bottom line's right half: missed calls, or else forwarding, or else the date (the
        # missed count is news to act on; forwarding explains why the phone stays silent).
        if self.missed:
            layout.text(f"Ext {self.extension}", 55, MEDIUM, x=0, width=WIDTH - 64)
            layout.text(f"{min(self.missed, 99)} missed", 55, MEDIUM, x=WIDTH - 63, width=63,
                        align="right", bold=True)
        elif self.forward or self.date:
            ext = f"Ext {self.extension}"
            if self.forward:  # where calls go, in full when "Ext " can make room for it
                both = text_width(ext, MEDIUM) + text_width(self.forward, MEDIUM) + 6
                ext = ext if both <= WIDTH else self.extension
            right = max(63, WIDTH - 6 - int(text_width(ext, MEDIUM))) if self.forward else 63
            layout.text(ext, 55, MEDIUM, x=0, width=WIDTH - right - 1)
            layout.text(self.forward or self.date or "", 55, MEDIUM, x=WIDTH - right,
                        width=right, align="right", bold=bool(self.forward))
        else:
            layout.text(f"Ext {self.extension}", 55, MEDIUM, align="center")
        return layout
