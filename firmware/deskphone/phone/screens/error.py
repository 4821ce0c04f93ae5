"""Something the person must act on: TLS certificate verification failed, no network..."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    MEDIUM,
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    warning_sign,
    wrap,
)


@dataclass(frozen=True)
class ErrorScreen(Screen):
    title: str
    detail: str

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 14)
        layout.shape(warning_sign(3, 2, ink=PAPER))
        layout.text(self.title, 11, MEDIUM, x=17, width=WIDTH - 19, ink=PAPER)
        for i, line in enumerate(wrap(self.detail, SMALL, WIDTH - 2, 3)):
            layout.text(line, 28 + 13 * i, SMALL, x=1, width=WIDTH - 2)
        return layout
