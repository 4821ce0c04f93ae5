"""End of a call, or a call that never started: Busy, Unreachable, Declined, No answer..."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import LARGE, SMALL, WIDTH, Layout, Screen, wrap


@dataclass(frozen=True)
class EndedScreen(Screen):
    title: str
    detail: str

    def layout(self) -> Layout:
        layout = Layout()
        layout.text(self.title, 26, LARGE, align="center")
        for i, line in enumerate(wrap(self.detail, SMALL, WIDTH - 4, 2)):
            layout.text(line, 45 + 12 * i, SMALL, align="center", x=2, width=WIDTH - 4)
        return layout
