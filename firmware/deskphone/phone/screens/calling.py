"""Outgoing call in progress: "Calling…" then "Ringing…"."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import LARGE, MEDIUM, SMALL, WIDTH, Layout, Screen


@dataclass(frozen=True)
class CallingScreen(Screen):
    peer: str
    progress: str  # "Calling…" / "Ringing…"

    def layout(self) -> Layout:
        layout = Layout()
        layout.text(self.progress, 11, MEDIUM)
        layout.box(0, 14, WIDTH - 1, 14)
        layout.text(self.peer, 40, LARGE, align="center")
        layout.text("Hang up to cancel", 62, SMALL, align="center")
        return layout
