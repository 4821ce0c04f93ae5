"""The SAS, large, to be read aloud; the person answers with # (matches) or * (differs).

RFC 6189 §7: both people read the short authentication string to each other; if it differs a
man in the middle is likely. The key press is turned into confirm/reject by the state machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import PAPER, SMALL, WIDTH, Layout, Screen
from deskphone.phone.screens.sas_text import add_sas


@dataclass(frozen=True)
class SasScreen(Screen):
    peer: str
    sas: str
    warning: str = ""  # e.g. "NEW PHONE ID": replaces the header, the SAS matters even more
    post_quantum: bool = False  # "PQ" at the right of the header: a post-quantum key agreement
    # A held call's alarm ("! Held: Bob", issue 15): it takes the hint's place, inverted, so a
    # mismatch on the other call is seen at once even while this one's SAS is read.
    held_alarm: str = ""

    def layout(self) -> Layout:
        layout = Layout()
        header = f"Read aloud with {self.peer}"
        if self.warning:
            header = f"! {self.warning}: {self.peer}"
        if self.post_quantum:
            layout.text(header, 9, SMALL, width=WIDTH - 18)
            layout.text("PQ", 9, SMALL, align="right", bold=True)
        else:
            layout.text(header, 9, SMALL)
        layout.box(0, 12, WIDTH - 1, 12)
        add_sas(layout, self.sas, 14, 50)
        if self.held_alarm:
            layout.box(0, 52, WIDTH - 1, 63)
            layout.text(self.held_alarm, 62, SMALL, align="center", ink=PAPER, bold=True,
                        width=WIDTH)
        else:
            layout.text("# if it matches, * if not", 62, SMALL, align="center")
        return layout
