from __future__ import annotations

import dataclasses

import pytest
from PIL import Image, ImageChops

from deskphone.phone.screens import (
    SECURITY_STATES,
    DialingScreen,
    IdleScreen,
    InCallScreen,
    MitmScreen,
    NotSecureScreen,
    SasScreen,
)
from deskphone.phone.screens.canvas import ELLIPSIS, Text, fit, text_width
from tests.screens.cases import CASES, LONG_NAME
from tests.screens.regenerate_goldens import GOLDEN


def lit(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    part = image.crop(box) if box else image
    return part.convert("L").histogram()[255]


@pytest.mark.parametrize("name", sorted(CASES))
def test_screen_matches_golden_png(name):
    image = CASES[name].render()
    assert image.mode == "1" and image.size == (128, 64)
    with Image.open(GOLDEN / f"{name}.png") as golden:
        golden = golden.convert("1")
        assert image.tobytes() == golden.tobytes(), (
            f"{name} differs from its golden; if intended run "
            f"`.venv/bin/python -m tests.screens.regenerate_goldens` and look at the PNG"
        )


def test_every_golden_has_a_case():
    assert {p.stem for p in GOLDEN.glob("*.png")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_screens_are_frozen_and_render_deterministically(name):
    screen = CASES[name]
    assert dataclasses.is_dataclass(screen)
    field = dataclasses.fields(screen)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(screen, field, "x")
    assert screen.render().tobytes() == screen.render().tobytes()
    assert all(isinstance(line, str) and line for line in screen.lines())


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_text_item_fits_its_box_on_the_panel(name):
    for item in CASES[name].layout().items:
        if isinstance(item, Text):
            assert 0 <= item.x and item.x + item.width <= 128
            assert text_width(item.fitted(), item.size) + (1 if item.bold else 0) <= item.width
            assert 0 < item.baseline <= 63


def test_verified_and_not_secure_look_clearly_different():
    verified = InCallScreen("Alice", 60, "verified", "4K7Q", True).render()
    not_secure = InCallScreen("Alice", 60, "not_secure", None, False).render()
    differing = lit(ImageChops.logical_xor(verified, not_secure))
    assert differing > 128 * 64 // 8  # over an eighth of the panel
    banner = (0, 15, 128, 37)
    assert lit(not_secure, banner) > 0.7 * 128 * 22  # the inverted banner
    assert lit(verified, banner) < 0.2 * 128 * 22


def test_secure_is_only_said_when_true():
    for state in SECURITY_STATES:
        lines = " ".join(InCallScreen("Alice", 1, state, "4K7Q", False).lines())
        good = "Secure" in lines or "Verified" in lines
        assert good == (state in ("secure", "verified")), state
        assert ("NOT SECURE" in lines or "MISMATCH" in lines) == (
            state in ("not_secure", "mismatch"))


def test_secure_with_verified_flag_shows_verified():
    lines = InCallScreen("Alice", 1, "secure", "4K7Q", True).lines()
    assert "Verified" in lines


def test_mitm_lights_most_of_the_panel():
    assert lit(MitmScreen("Alice", "4K7Q").render()) > 0.7 * 128 * 64
    assert "POSSIBLE MITM" in MitmScreen("Alice", None).lines()


def test_not_secure_screen_names_peer_and_reason():
    lines = NotSecureScreen("Alice", "Peer does not support ZRTP").lines()
    assert lines[0] == "NOT SECURE" and "Alice" in lines
    assert " ".join(lines[2:]) == "Peer does not support ZRTP"


def test_b32_sas_is_large():
    screen = SasScreen("Alice", "4K7Q")
    assert "4K7Q" in screen.lines()
    image = screen.render()
    top, bottom = image.crop((0, 14, 128, 51)).getbbox()[1::2]
    assert bottom - top >= 20  # glyphs at least 20 px tall (the status text is ~7)


def test_b256_sas_is_two_large_lines():
    lines = SasScreen("Alice", "adroitness:gravity").lines()
    assert "adroitness" in lines and "gravity" in lines


def test_long_names_are_truncated_with_an_ellipsis():
    idle = IdleScreen("1042", LONG_NAME, "Registered", "12:00")
    assert any(line.endswith(ELLIPSIS) and line.startswith("Maximilian")
               for line in idle.lines())
    assert LONG_NAME not in idle.lines()


def test_long_dial_strings_keep_the_newest_digits():
    lines = DialingScreen("0044207946012345678901234567").lines()
    assert lines[1].startswith(ELLIPSIS) and lines[1].endswith("4567")


def test_nothing_is_drawn_outside_the_panel_even_for_hostile_names():
    hostile = "\x1b[2J\r\nWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW\t\x00" * 3
    for screen in (IdleScreen(hostile, hostile, hostile, hostile),
                   InCallScreen(hostile, 10**9, "secure", hostile, False, True, hostile),
                   SasScreen(hostile, hostile), NotSecureScreen(hostile, hostile),
                   MitmScreen(hostile, hostile)):
        image = screen.render()
        assert image.size == (128, 64)
        for line in screen.lines():
            assert "\n" not in line and "\x1b" not in line and "\x00" not in line


def test_unknown_security_state_is_refused():
    with pytest.raises(ValueError, match="'secured'"):
        InCallScreen("Alice", 1, "secured", None, False)


def test_duration_formats():
    assert InCallScreen("A", 59, "none", None, False).lines()[1] == "0:59"
    assert InCallScreen("A", 3600, "none", None, False).lines()[1] == "1:00:00"
    assert InCallScreen("A", -5, "none", None, False).lines()[1] == "0:00"


def test_fit_keeps_text_that_fits_and_cuts_what_does_not():
    assert fit("Alice", 10, 128) == "Alice"
    cut = fit("W" * 100, 10, 60)
    assert cut.endswith(ELLIPSIS) and text_width(cut, 10) <= 60
    assert fit("W" * 100, 10, 1) == ELLIPSIS


def test_a_lan_warning_takes_the_clocks_place_on_the_idle_screen() -> None:
    from deskphone.phone.screens.idle import IdleScreen

    warned = IdleScreen("321980", "Alice", "LAN only", clock="18:49",
                        warning="ext 321980 also on LAN")
    assert warned.lines()[0] == "! ext 321980 also on LAN"
    assert "18:49" not in warned.lines()
    calm = IdleScreen("321980", "Alice", "LAN only", clock="18:49")
    assert "18:49" in calm.lines()
