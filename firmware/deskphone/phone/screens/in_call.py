"""In a call: peer, duration, and the security state -- "Secure" only when it is true.

Security states (the phone state machine's): none (no ZRTP: plain RTP), securing (ZRTP
handshake running), secure (SRTP keyed, SAS not yet confirmed by the people), verified (SAS
confirmed now or earlier, RFC 6189 §7.1 cached), not_secure (ZRTP failed or the peer refused),
mismatch (the people said the SAS differs). The two bad states are an inverted banner, so they
cannot be mistaken at a glance for the good ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deskphone.phone.screens.canvas import (
    MEDIUM,
    PAPER,
    SMALL,
    WIDTH,
    Layout,
    Screen,
    check_mark,
    fit,
    format_duration,
    padlock,
    text_width,
    warning_sign,
)
from deskphone.phone.screens.sas_text import add_sas

SECURITY_STATES = ("none", "securing", "secure", "verified", "not_secure", "mismatch")


@dataclass(frozen=True)
class InCallScreen(Screen):
    peer: str
    duration_s: int
    security: str  # one of SECURITY_STATES
    sas: str | None
    verified: bool
    held: bool = False
    dtmf: str = ""  # digits sent in this call (the tail is shown)
    warning: str = ""  # who answers may not be who the LAN announced: shown before the peer
    muted: bool = False  # the microphone is silenced
    audio_lost: bool = False  # the handset's audio device vanished: the call goes on unheard
    post_quantum: bool = False  # "PQ" beside Secure/Verified: a post-quantum key agreement (DPQ1)
    # Another call on hold (issue 15), e.g. "Held: Bob"; "!" first when its security alarms.
    other: str = ""
    swap_key: str = "D"  # how the keypad names swap ("R2" on a 4x3: the hook flash's code)
    transfer_key: str = ""  # with a held call: the key that hands it over ("A", "R4")
    notice: str = ""  # "Volume 7/10" after *2 / *8: the bottom line's, for a few seconds

    def __post_init__(self) -> None:
        if self.security not in SECURITY_STATES:
            raise ValueError(
                f"InCallScreen.security: got {self.security!r}, expected one of "
                + ", ".join(SECURITY_STATES)
            )

    def layout(self) -> Layout:
        layout = Layout()
        duration = format_duration(self.duration_s)
        top = f"! {self.warning} {self.peer}" if self.warning else self.peer
        layout.text(top, 9, SMALL, width=WIDTH - 40)
        layout.text(duration, 9, SMALL, align="right")
        layout.box(0, 12, WIDTH - 1, 12)
        self._security(layout)
        if self.audio_lost:  # what matters most to the person holding a silent handset
            layout.text("Handset audio lost", 62, SMALL, width=WIDTH, bold=True)
        elif self.notice:  # the level just set by *2 / *8, for a few seconds
            layout.text(f"{self.notice}  *2+ *8-", 62, SMALL, align="center")
            return layout
        elif self.other and not self.held and not self.dtmf:
            # D swaps while another call exists (and mutes only when there is none); '#' mixes
            # a held call in (a 3-way conference, on the 4x3 keypad too).
            muted = "MUTED  " if self.muted else ""
            layout.text(self._other_line(muted), 62, SMALL, width=WIDTH)
        elif self.held or self.muted:
            label = ("Held, muted" if self.held and self.muted
                     else "On hold" if self.held else "MUTED")
            layout.text(label, 62, SMALL, width=WIDTH if not self.dtmf else 62)
        if self.dtmf:
            left = 44 if self.held else 0
            layout.text(f"Sent {self.dtmf}", 62, SMALL, x=left, width=WIDTH - left,
                        align="right" if self.held else "left", keep="end")
        return layout

    def _other_line(self, muted: str) -> str:
        """The held call and the keys: the held party's name comes first (who waits on hold),
        then the swap key; the conference key ('#', both keypads) and the transfer key only when
        they fit beside them, the conference's first (the 4x4's A key is labelled XFER). A name
        too long even so gives way at its end: "! Held:" (it alarms) always stays."""
        held = muted + self.other
        swap = f"{self.swap_key} swap"
        conf = "# conf"  # vocabulary.CONFERENCE_KEY: the same on the 4x3 and the 4x4
        xfer = f"{self.transfer_key} xfer" if self.transfer_key else ""
        choices = [" ".join(k for k in keys if k) for keys in
                   ((swap, xfer, conf), (swap, conf), (swap, xfer))] + [swap]
        for keys in choices:
            if text_width(f"{held}  {keys}", SMALL) <= WIDTH:
                return f"{held}  {keys}"
        room = WIDTH - math.ceil(text_width(f"  {swap}", SMALL))
        return f"{fit(held, SMALL, room)}  {swap}"

    def _security(self, layout: Layout) -> None:
        state = "verified" if self.security == "secure" and self.verified else self.security
        if state in ("not_secure", "mismatch"):
            layout.box(0, 15, WIDTH - 1, 36)
            layout.shape(warning_sign(3, 21, ink=PAPER))
            title = "NOT SECURE" if state == "not_secure" else "SAS MISMATCH"
            layout.text(title, 31, MEDIUM, x=16, width=WIDTH - 18, ink=PAPER, bold=True)
            detail = "Call is not encrypted" if state == "not_secure" else "Possible eavesdropper"
            layout.text(detail, 49, SMALL, align="center")
            return
        if state in ("none", "securing"):
            layout.shape(padlock(2, 17, closed=False))
            layout.text("Unencrypted" if state == "none" else "Securing…", 27, MEDIUM, x=16,
                        width=WIDTH - 16)
            return
        layout.shape(padlock(2, 17, closed=True))
        if state == "verified":
            layout.shape(check_mark(14, 19))
            layout.text("Verified PQ" if self.post_quantum else "Verified", 27, MEDIUM, x=27,
                        width=WIDTH - 27)
            if self.sas:
                layout.text(f"SAS {self.sas}", 45, SMALL, align="center")
            return
        # "Secure PQ: compare" does not fit the line; the SAS below says what to compare.
        layout.text("Secure PQ" if self.post_quantum else "Secure: compare", 27, MEDIUM, x=16,
                    width=WIDTH - 16)
        if self.sas:
            add_sas(layout, self.sas, 30, 51)
