"""Blind transfer (RFC 3515), like a desk phone's XFER key: the sub-flow's own state.

In a call, `A` (the transfer key of the 4x4 keypad) opens the transfer screen; digits key the
target, `#` sends it (or the inter-digit timeout does), `*` erases and, when nothing is left, goes
back to the call; `A` again also goes back. The control socket's `transfer TARGET` does the same at
once. The far end then calls the target: on success our leg ends ("Transferred"), on failure the
call goes on. As the transferee, `TransferStarted` puts the current call aside while the new one is
placed (state calling); if that call fails the original call comes back (RFC 5589 §6.2), if it is
answered it replaces it.

`BlindTransfer` keeps what belongs to the transfer alone — the target being keyed or sent, why the
last transfer failed, the call set aside — and says what a key press means (`Keyed`). The phone
machine owns one, and its table decides the state the phone goes to; nothing here sees the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deskphone.phone.call_security import CallSecurity
from deskphone.phone.vocabulary import DIAL_KEYS, MAX_DIGITS, TRANSFER_KEY


class Keyed(StrEnum):
    """What a key pressed on the transfer screen amounts to."""

    TYPED = "typed"  # a digit was added to the target
    FULL = "full"  # no room for another digit
    ERASED = "erased"  # '*' took the last digit off
    SEND = "send"  # '#' with a target: send it
    BACK = "back"  # '*' with nothing keyed, or the transfer key again: back to the call
    NOTHING = "nothing"  # any other key ('#' with nothing keyed, B-D)


# How long "Transfer failed 486" stays on the screen before the call's own screen returns.
NOTICE_SECONDS = 3.0


@dataclass(frozen=True)
class TransferNotice:
    """The outcome of a transfer that did not happen, shown on the transfer screen a moment."""

    peer: str  # who was to be transferred
    target: str  # to whom
    text: str  # "Transfer failed 486"
    until: float  # the machine's clock: shown while now < until


def failure_text(detail: str) -> str:
    """`detail` ("486 Busy Here", "603 refused", "no call to transfer") as the screen's line:
    the status code when there is one, it is what a person can look up."""
    code = detail.split(" ", 1)[0]
    return f"Transfer failed {code}" if code.isdigit() else "Transfer failed"


@dataclass(frozen=True)
class SetAsideCall:
    """What the person saw of the call we were transferred away from, to show it again."""

    peer: str | None
    answered_at: float | None
    held: bool
    security: CallSecurity  # a copy: its SAS, verification and warnings as they were


class BlindTransfer:
    def __init__(self) -> None:
        self.target: str | None = None  # keyed/sent transfer target (transferor)
        self.failed = ""  # why the last transfer of this call did not happen
        self.set_aside: SetAsideCall | None = None  # transferee: the call put aside
        self.handed_over = ""  # attended transfer: who is handed over to the call in the earpiece
        self.progress = ""  # the far end's last NOTIFY sipfrag before the outcome: "180 Ringing"
        self.notice: TransferNotice | None = None  # a failed transfer, shown for a moment

    def clear(self) -> None:
        """A new call, or none: nothing of an earlier transfer is left."""
        self.target, self.failed, self.set_aside, self.handed_over = None, "", None, ""
        self.progress, self.notice = "", None

    def notice_at(self, now: float) -> TransferNotice | None:
        """The failure notice still to be shown at `now`, if any."""
        return self.notice if self.notice is not None and now < self.notice.until else None

    def open(self) -> None:
        """The transfer key was pressed in a call: start keying a target."""
        self.target = ""

    def press(self, key: str) -> Keyed:
        target = self.target or ""
        if key in DIAL_KEYS:
            if len(target) >= MAX_DIGITS:
                return Keyed.FULL
            self.target = target + key
            return Keyed.TYPED
        if key == "#" and target:
            return Keyed.SEND
        if (key == "*" and not target) or key == TRANSFER_KEY:
            return Keyed.BACK
        if key == "*":
            self.target = target[:-1]
            return Keyed.ERASED
        return Keyed.NOTHING

    def send(self, target: str) -> None:
        self.target, self.progress, self.notice = target, "", None

    def close(self) -> None:
        """Back to the call: no target any more (an earlier failure is still remembered)."""
        self.target, self.handed_over, self.progress = None, "", ""

    def record_failure(self, detail: str) -> None:
        self.failed = detail

    def put_aside(self, call: SetAsideCall) -> None:
        self.set_aside = call

    def replaced(self) -> None:
        """The transfer's new call was answered: the call set aside is gone for good."""
        self.set_aside = None
