"""Screens of several calls at once (issue 15): a call waiting, and calls on hold.

Each says which call the earpiece carries and how secure *that* call is, since the person may
be holding one secured call and talking on another that is not. A security problem on a call
that is not heard (a held call's SAS mismatch) is flagged at once, inverted, on the line that
names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import LARGE, PAPER, SMALL, WIDTH, Layout, Screen

# How a call's security reads in one short line (the in-call screen has the long form).
SECURITY_WORDS = {"none": "unencrypted", "securing": "securing…", "secure": "secure",
                  "verified": "verified", "not_secure": "NOT SECURE", "mismatch": "SAS MISMATCH"}
_ALARMING = ("not_secure", "mismatch")


def security_words(security: str) -> str:
    return SECURITY_WORDS.get(security, security)


@dataclass(frozen=True)
class CallWaitingScreen(Screen):
    """A second caller rings (the call-waiting tone is in the earpiece, not the ringer)."""

    caller: str  # the waiting caller's display name, or number/URI
    talking_to: str  # the call the earpiece carries now
    talking_security: str  # that call's security (one of SECURITY_WORDS)
    answer_key: str = "D"  # "R2" on a 4x3 keypad (the hook flash, phone/hook_flash.py)

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 13)
        layout.text("Call waiting", 11, SMALL, align="center", ink=PAPER)
        layout.text(self.caller, 32, LARGE, align="center")
        # The heard call's security comes first so a long name can never push it off the panel.
        words = security_words(self.talking_security)
        hearing = f"{words[0].upper()}{words[1:]}: {self.talking_to}"
        if self.talking_security in _ALARMING:
            layout.box(0, 37, WIDTH - 1, 49)
            layout.text(hearing, 47, SMALL, align="center", ink=PAPER, bold=True)
        else:
            layout.text(hearing, 47, SMALL, align="center")
        layout.text(f"{self.answer_key} answer, holds {self.talking_to}", 62, SMALL,
                    align="center")
        return layout


@dataclass(frozen=True)
class HeldScreen(Screen):
    """No call in the earpiece: one is on hold (the reminder ring sounds with the handset down)."""

    peer: str
    security: str
    off_hook: bool
    resume_key: str = "D"  # "R" on a 4x3 keypad (the hook flash)

    def layout(self) -> Layout:
        layout = Layout()
        layout.box(0, 0, WIDTH - 1, 13)
        layout.text("Call on hold", 11, SMALL, align="center", ink=PAPER)
        layout.text(self.peer, 32, LARGE, align="center")
        words = security_words(self.security)
        if self.security in _ALARMING:
            layout.box(0, 37, WIDTH - 1, 49)
            layout.text(words, 47, SMALL, align="center", ink=PAPER, bold=True)
        else:
            layout.text(words, 47, SMALL, align="center")
        hint = f"{self.resume_key} resume" if self.off_hook else "Lift handset to resume"
        layout.text(hint, 62, SMALL, align="center")
        return layout
