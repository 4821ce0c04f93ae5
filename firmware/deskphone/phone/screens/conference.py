"""The 3-way conference screen (issue 15 item 4): both legs, each with its own SAS and flag.

The phone mixes the conference itself, so each leg is a call of its own with its own ZRTP
session: B's SAS is the one B reads out to this phone, C's the one C reads. B and C are secured
to this phone, not to each other (the phone hears and mixes both in the clear), and the screen
says so in words rather than showing one padlock for "the conference".

    +------------------------------+
    | Conference, mixed here       |   (inverted title)
    | ✓ Bob        4K7Q            |   a leg: verified tick, peer, its SAS
    |   Carol      ZP2X            |   or "NOT SECURE" / "MISMATCH", inverted
    | Each call secured to this    |
    | phone, not to each other     |
    +------------------------------+
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    check_mark,
    text_width,
)
from deskphone.phone.screens.sas_text import sas_words
from deskphone.phone.screens.several_calls import security_words

_ALARMING = ("not_secure", "mismatch")
_SMALLER = 9


@dataclass(frozen=True)
class ConferenceLeg:
    peer: str
    security: str  # a phone Security value
    sas: str | None
    verified: bool


@dataclass(frozen=True)
class ConferenceScreen(Screen):
    legs: tuple[ConferenceLeg, ...]

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 12)
        layout.text("Conference, mixed here", 10, SMALL, align="center", ink=PAPER)
        for row, leg in enumerate(self.legs[:2]):
            self._leg(layout, leg, 25 + 12 * row)
        layout.text("Each call secured to this", 51, SMALL, align="center")
        layout.text("phone, not to each other", 62, SMALL, align="center")
        return layout

    @staticmethod
    def _leg(layout: Layout, leg: ConferenceLeg, baseline: int) -> None:
        if leg.security in _ALARMING:
            layout.box(0, baseline - 10, WIDTH - 1, baseline + 1)
            words = security_words(leg.security)
            layout.text(f"{words} {leg.peer}", baseline, SMALL, x=2, width=WIDTH - 4, ink=PAPER,
                        bold=True)
            return
        if leg.verified:
            layout.shape(check_mark(0, baseline - 8))
        sas = " ".join(sas_words(leg.sas)) if leg.sas else security_words(leg.security)
        # the SAS is what people read out: it gets the room it needs, the name what is left
        # (two PGP words, RFC 6189 §5.1.6 B256, in a smaller size rather than cut)
        room = WIDTH - 12 - 12
        size = SMALL if text_width(sas, SMALL) < room else _SMALLER
        sas_width = min(int(text_width(sas, size)) + 1, room)
        layout.text(leg.peer, baseline, SMALL, x=12, width=WIDTH - 12 - sas_width - 4)
        layout.text(sas, baseline, size, x=WIDTH - sas_width, width=sas_width, align="right")
