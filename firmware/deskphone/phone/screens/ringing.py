"""Incoming call: who is calling and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import LARGE, MEDIUM, PAPER, SMALL, WIDTH, Layout, Screen


@dataclass(frozen=True)
class RingingScreen(Screen):
    caller: str  # number or SIP URI
    display_name: str | None

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 13)
        layout.text("Incoming call", 11, MEDIUM, align="center", ink=PAPER)
        if self.display_name:
            layout.text(self.display_name, 33, LARGE, align="center")
            layout.text(self.caller, 47, SMALL, align="center")
        else:
            layout.text(self.caller, 38, LARGE, align="center")
        layout.text("Lift handset to answer", 62, SMALL, align="center")
        return layout
