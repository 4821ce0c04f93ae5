"""Off hook, dial tone playing: invite the person to dial."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import LARGE, SMALL, WIDTH, Layout, Screen


@dataclass(frozen=True)
class OffHookScreen(Screen):
    status: str = "Dial a number"

    def layout(self) -> Layout:
        layout = Layout()
        layout.text("Off hook", 9, SMALL)
        layout.box(0, 12, WIDTH - 1, 12)
        layout.text(self.status, 40, LARGE, align="center")
        return layout
