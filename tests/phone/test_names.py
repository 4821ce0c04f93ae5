"""Display names from the network are shown and logged safely: any string in, one bounded line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deskphone.phone.names import MAX_SHOWN, display_text, log_text
from deskphone.phone.screens import RingingScreen
from deskphone.phone.screens.canvas import WIDTH


def test_controls_bidi_overrides_and_emoji_are_made_harmless() -> None:
    assert display_text("Bob\r\n\x1b[2J") == "Bob   [2J"
    assert display_text("\u202eevil\u2066x\u200d") == "evilx"  # RLO, LRI, ZWJ dropped
    assert display_text("Zoë 😀☎") == "Zoë ??"
    assert len(display_text("x" * 10_000)) == MAX_SHOWN


def test_log_text_is_ascii_bounded_and_says_it_was_cut() -> None:
    assert log_text("Zoë\x1b[31m") == "Zo??[31m"
    assert log_text("y" * 10_000) == "y" * 80 + "...(10000 chars)"


@given(st.text())
def test_any_name_stays_one_bounded_printable_line(name: str) -> None:
    shown = display_text(name)
    assert len(shown) <= MAX_SHOWN and all(ch.isprintable() for ch in shown)
    assert all(0x20 <= ord(ch) < 0x7F for ch in log_text(name))


def test_a_hostile_caller_name_on_the_ringing_screen_stays_on_the_panel() -> None:
    screen = RingingScreen("sip:1@h", "\u202e" + "😀" * 5000 + "\x1b[2J")
    lines = screen.lines()
    assert not any("\u202e" in line or "\x1b" in line for line in lines)
    assert screen.render().size == (WIDTH, 64)
