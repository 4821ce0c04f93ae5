"""Blind transfer from the keypad: "Transfer <peer> to" the digits typed, then its progress.

A desk phone's transfer key (A on the 4x4 keypad, labelled XFER) opens this screen during a
call; the person keys the target and # sends it (RFC 3515 REFER), * erases and, once empty,
goes back to the call. While the far end places the new call, the progress line says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.screens.canvas import SMALL, WIDTH, Layout, Screen, largest_size


@dataclass(frozen=True)
class TransferScreen(Screen):
    peer: str  # who is being transferred
    digits: str  # the target typed so far (or the whole target once sent)
    progress: str | None = None  # None while keying; "Transferring…" once sent

    def layout(self) -> Layout:
        layout = Layout()
        layout.text(f"Transfer {self.peer} to", 9, SMALL, width=WIDTH)
        layout.box(0, 12, WIDTH - 1, 12)
        size = largest_size(self.digits or "0", WIDTH - 4, 30, sizes=(24, 20, 16, 12))
        layout.text(self.digits, 40, size, align="center", x=2, width=WIDTH - 4, keep="end")
        footer = self.progress or "# transfer  * back"
        layout.text(footer, 62, SMALL, align="center")
        return layout
