"""NOT SECURE: the call is up but unencrypted or unauthenticated, and the person must know."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    LARGE,
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    warning_sign,
    wrap,
)


@dataclass(frozen=True)
class NotSecureScreen(Screen):
    peer: str
    reason: str  # "peer has no ZRTP", "ZRTP handshake failed"...

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 25)
        layout.shape(warning_sign(4, 8, ink=PAPER))
        layout.text("NOT SECURE", 20, LARGE, x=18, width=WIDTH - 20, ink=PAPER, bold=True)
        layout.text(self.peer, 38, SMALL, align="center")
        for i, line in enumerate(wrap(self.reason, SMALL, WIDTH - 4, 2)):
            layout.text(line, 50 + 12 * i, SMALL, align="center", x=2, width=WIDTH - 4)
        return layout
