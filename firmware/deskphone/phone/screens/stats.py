"""Call quality: codec, packet loss, jitter and round-trip time (RFC 3550 §6.4 figures), and the
media path when ICE chose one: "direct srflx" (straight between the two NAT mappings) or
"relayed TURN" (through a relay, still ZRTP end to end: shown "relayed, e2e"; issue 14 item 5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deskphone.phone.screens.canvas import SMALL, WIDTH, Layout, Screen


def _number(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    value = max(0.0, value)
    shown = f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{shown} {unit}"


@dataclass(frozen=True)
class StatsScreen(Screen):
    codec: str
    loss_pct: float
    jitter_ms: float
    rtt_ms: float | None
    path: str = ""  # "" without ICE: the four rows as before

    def layout(self) -> Layout:
        layout = Layout()
        layout.text("Call quality", 9, SMALL)
        layout.box(0, 12, WIDTH - 1, 12)
        rows = [("Codec", self.codec), ("Loss", _number(self.loss_pct, "%")),
                ("Jitter", _number(self.jitter_ms, "ms")), ("RTT", _number(self.rtt_ms, "ms"))]
        top, step = 24, 12
        if self.path:
            shown = "relayed, e2e" if self.path.startswith("relayed") else self.path
            rows.append(("Path", shown))
            top, step = 23, 10  # five rows in the 64-pixel panel
        for i, (label, value) in enumerate(rows):
            baseline = top + step * i
            layout.text(label, baseline, SMALL, width=40)
            layout.text(value, baseline, SMALL, align="right", x=42, width=WIDTH - 42)
        return layout
