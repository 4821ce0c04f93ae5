"""NOT SECURE: the call is up but unencrypted or unauthenticated, and the person must know.

With `attack` the title is POSSIBLE ATTACK instead: the failure was evidence that someone
interfered (RFC 6189 §8.1.1, a Hello that does not match the signalled a=zrtp-hash), which a
person must not mistake for a peer that merely has no ZRTP.
"""

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
    warning_sign,
    wrap,
)


@dataclass(frozen=True)
class NotSecureScreen(Screen):
    peer: str
    reason: str  # "peer has no ZRTP", "ZRTP handshake failed"...
    attack: bool = False

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 25)
        layout.shape(warning_sign(4, 8, ink=PAPER))
        if self.attack:  # a longer title, in the size and weight that fit it whole
            layout.text("POSSIBLE ATTACK", 17, MEDIUM, x=18, width=WIDTH - 20, ink=PAPER)
        else:
            layout.text("NOT SECURE", 20, LARGE, x=18, width=WIDTH - 20, ink=PAPER, bold=True)
        layout.text(self.peer, 38, SMALL, align="center")
        for i, line in enumerate(wrap(self.reason, SMALL, WIDTH - 4, 2)):
            layout.text(line, 50 + 12 * i, SMALL, align="center", x=2, width=WIDTH - 4)
        return layout
