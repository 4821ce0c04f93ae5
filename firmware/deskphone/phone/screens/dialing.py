"""Dialing: the digits so far, as big as they fit; the newest digits win if space runs out."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import SMALL, WIDTH, Layout, Screen, largest_size


@dataclass(frozen=True)
class DialingScreen(Screen):
    digits: str

    def layout(self) -> Layout:
        layout = Layout()
        layout.text("Dial", 9, SMALL)
        layout.box(0, 12, WIDTH - 1, 12)
        size = largest_size(self.digits or "0", WIDTH - 4, 30, sizes=(28, 24, 20, 16))
        layout.text(self.digits, 44, size, align="center", x=2, width=WIDTH - 4, keep="end")
        layout.text("# to call", 62, SMALL, align="center")
        return layout
