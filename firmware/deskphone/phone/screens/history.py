"""The call history list, one entry at a time: who, when, how long, how secure, and the keys."""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    LARGE,
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    check_mark,
    format_duration,
    padlock,
    warning_sign,
)

DIRECTION_TITLES = {"incoming": "In", "outgoing": "Out", "missed": "Missed",
                    "forwarded": "Forwarded"}
SECURITY_TEXT = {"verified": "verified", "secure": "secure", "not_secure": "not secure",
                 "mismatch": "MITM?", "none": ""}


@dataclass(frozen=True)
class HistoryScreen(Screen):
    position: int  # 1 = newest
    total: int
    direction: str = ""
    name: str = ""
    peer: str = ""
    when: str = ""  # "02 Dec 14:05"
    duration: int = 0
    security: str = "none"

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 11)
        if not self.total:
            layout.text("History", 10, SMALL, x=2, width=WIDTH - 4, ink=PAPER)
            layout.text("No calls yet", 36, LARGE, align="center")
            layout.text("* back", 62, SMALL, align="center")
            return layout
        title = DIRECTION_TITLES.get(self.direction, self.direction)
        mark = SECURITY_TEXT.get(self.security, "")
        # Not secure gets no icon: an open padlock beside the word reads as a lock at a glance.
        icon = {"verified": check_mark(2, 2, ink=PAPER), "secure": padlock(2, 0, True, ink=PAPER),
                "mismatch": warning_sign(1, 1, ink=PAPER)}.get(self.security)
        left = 12 if icon is not None else 2
        if icon is not None:
            layout.shape(icon)
        layout.text(f"{title} {mark}".strip(), 10, SMALL, x=left, width=88 - left, ink=PAPER)
        layout.text(f"{self.position}/{self.total}", 10, SMALL, x=88, width=WIDTH - 89,
                    align="right", ink=PAPER)
        layout.text(self.name or self.peer, 28, LARGE, align="center")
        if self.name:
            layout.text(self.peer, 39, SMALL, align="center")
        layout.text(self.when, 51, SMALL, x=0, width=84)
        if self.direction not in ("missed", "forwarded"):
            layout.text(format_duration(self.duration), 51, SMALL, x=84, width=WIDTH - 84,
                        align="right")
        layout.text("# call 2/8 move * back", 63, SMALL, align="center")
        return layout
