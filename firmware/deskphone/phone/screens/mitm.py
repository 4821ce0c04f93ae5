"""POSSIBLE MITM: the whole panel lit, black text -- nothing else on the phone looks like it.

Shown when the people reject the SAS or a retained secret does not match (RFC 6189 §4.3.2: a
cache mismatch must be treated as a possible attack). It overrides every other screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    INK,
    MEDIUM,
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    warning_sign,
)


@dataclass(frozen=True)
class MitmScreen(Screen):
    peer: str
    sas: str | None

    def layout(self) -> Layout:
        layout = Layout(background=INK)
        layout.box(1, 1, WIDTH - 2, 62, fill=None, outline=PAPER)
        layout.shape(warning_sign(5, 5, ink=PAPER))
        layout.text("POSSIBLE MITM", 14, MEDIUM, x=19, width=WIDTH - 22, ink=PAPER, bold=True)
        layout.box(4, 18, WIDTH - 5, 18, fill=PAPER)
        layout.text("Do not trust this call", 31, SMALL, align="center", x=3, width=WIDTH - 6,
                    ink=PAPER)
        layout.text(self.peer, 44, SMALL, align="center", x=3, width=WIDTH - 6, ink=PAPER)
        if self.sas:
            layout.text(f"SAS {self.sas}", 57, SMALL, align="center", x=3, width=WIDTH - 6,
                        ink=PAPER)
        return layout
