"""Incoming call: who is calling, whether we verified them before, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    LARGE,
    MEDIUM,
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    check_mark,
    warning_sign,
)


@dataclass(frozen=True)
class RingingScreen(Screen):
    caller: str  # number or SIP URI
    display_name: str | None
    # "verified": the SAS was compared with this peer before (ZRTP cache) -> a tick beside the
    # name; "warning": it announces another phone ID, or our last call ended in a SAS mismatch.
    mark: str = ""
    notice: str = ""  # "Ringer 7/10" after a volume key (2 / 8): in the hint's place

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 13)
        layout.text("Incoming call", 11, MEDIUM, align="center", ink=PAPER)
        name_y = 33 if self.display_name else 38
        if self.mark == "verified":
            layout.shape(check_mark(0, name_y - 9))
        elif self.mark == "warning":
            layout.shape(warning_sign(0, name_y - 10))
        inset = 12 if self.mark in ("verified", "warning") else 0
        if self.display_name:
            layout.text(self.display_name, 33, LARGE, align="center", x=inset,
                        width=WIDTH - 2 * inset)
            layout.text(self.caller, 47, SMALL, align="center")
        else:
            layout.text(self.caller, 38, LARGE, align="center", x=inset, width=WIDTH - 2 * inset)
        if self.notice:
            layout.text(f"{self.notice}  2+ 8-", 62, SMALL, align="center")
        elif self.mark == "warning":
            layout.text("! Compare the SAS words", 62, SMALL, align="center")
        else:
            layout.text("Lift handset to answer", 62, SMALL, align="center")
        return layout
