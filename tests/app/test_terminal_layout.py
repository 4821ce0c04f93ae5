"""The simulator's drawing is chosen by the terminal's size, and every line fits it."""

from __future__ import annotations

import io

import pytest

from deskphone.sim.terminal import colour_wanted, frame, layout
from tests.screens.cases import CASES


@pytest.mark.parametrize(("columns", "rows", "kind", "pixels"), [
    (80, 24, "half_blocks", (72, 36)),     # scaled to fit: the common ssh window
    (100, 30, "half_blocks", (96, 48)),
    (140, 40, "half_blocks", (128, 64)),   # the panel pixel for pixel
    (300, 90, "half_blocks", (256, 128)),  # a big terminal: twice, nearest, crisp
    (60, 20, "braille", (112, 56)),        # half blocks would lose more than half
    (12, 6, "text", (0, 0)),               # no room: the status lines still say it all
])
def test_layout_by_terminal_size(columns: int, rows: int, kind: str,
                                 pixels: tuple[int, int]) -> None:
    chosen = layout(columns, rows)
    assert (chosen.kind, (chosen.width, chosen.height)) == (kind, pixels)


STATE = {"screen": "Alice\n1:23\nSecure: compare\n4K7Q", "call": "in_call",
         "security": "secure", "off_hook": True}


@pytest.mark.parametrize("columns", [20, 40, 64, 80, 100, 132, 200])
@pytest.mark.parametrize("rows", [8, 16, 24, 40, 60])
def test_every_frame_fits_the_terminal(columns: int, rows: int) -> None:
    lines = frame(CASES["in_call_secure"].render(), STATE, "deskphone 201 — Desk phone",
                  columns, rows, colour=False)
    assert len(lines) <= rows
    assert max(len(line) for line in lines) <= columns


def test_the_screen_text_is_on_a_status_line_even_when_the_panel_is_scaled() -> None:
    lines = frame(CASES["in_call_secure"].render(), STATE, "t", 80, 24, colour=False)
    assert "screen: Alice · 1:23 · Secure: compare · 4K7Q" in lines
    assert any("q: quit" in line for line in lines)


def test_no_colour_when_not_a_terminal_or_no_color_is_set() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert colour_wanted(Tty(), {}) is True
    assert colour_wanted(Tty(), {"NO_COLOR": "1"}) is False
    assert colour_wanted(Tty(), {"NO_COLOR": ""}) is True  # no-color.org: set and non-empty
    assert colour_wanted(io.StringIO(), {}) is False
    plain = frame(CASES["in_call_not_secure"].render(), {**STATE, "security": "not_secure"},
                  "t", 80, 24, colour=False)
    assert not any("\x1b" in line for line in plain)
    coloured = frame(CASES["in_call_not_secure"].render(), {**STATE, "security": "not_secure"},
                     "t", 80, 24, colour=True)
    assert any("\x1b[1;31m" in line and "security not_secure" in line for line in coloured)
