from __future__ import annotations

import pytest

from deskphone.devices.keypad import SCAN_INTERVAL_S, MatrixKeypad, ambiguous_cells
from deskphone.devices.keypad_sim import KeypadMatrix, SimKeypad

ROWS = [5, 6, 13, 19]
COLS = {"4x3": [12, 16, 20], "4x4": [12, 16, 20, 21]}
DEBOUNCE_S = 0.020


class Rig:
    """The real scanner on a simulated matrix, with a scan clock the test advances."""

    def __init__(self, factory, layout: str) -> None:
        self.matrix = KeypadMatrix(factory, ROWS, COLS[layout], layout)
        self.pressed: list[str] = []
        self.released: list[str] = []
        self.keypad = MatrixKeypad(ROWS, COLS[layout], layout, DEBOUNCE_S, self.pressed.append,
                                   emit_release=self.released.append, pin_factory=factory)
        self.now = 0.0

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / SCAN_INTERVAL_S)):
            self.now += SCAN_INTERVAL_S
            self.keypad.scan(self.now)

    def tap(self, key: str) -> None:
        self.matrix.press(key)
        self.run(0.050)
        self.matrix.release(key)
        self.run(0.050)


@pytest.fixture(params=["4x3", "4x4"])
def rig(request, mock_factory):
    rig = Rig(mock_factory, request.param)
    yield rig
    rig.keypad.close()


def test_every_key_is_reported_once(rig):
    every_key = "".join(rig.keypad.keys)
    for key in every_key:
        rig.tap(key)
    assert "".join(rig.pressed) == every_key
    assert "".join(rig.released) == every_key
    assert rig.keypad.pressed == frozenset()


def test_4x4_has_letter_keys(mock_factory):
    rig = Rig(mock_factory, "4x4")
    for key in "ABCD":
        rig.tap(key)
    assert rig.pressed == list("ABCD")
    rig.keypad.close()


def test_idle_matrix_reads_nothing(rig):
    rig.run(1.0)
    assert rig.keypad.read_matrix() == set()
    assert rig.pressed == []


def test_press_is_reported_after_debounce(rig):
    rig.matrix.press("5")
    rig.run(DEBOUNCE_S - SCAN_INTERVAL_S)  # three scans: 5, 10, 15 ms
    assert rig.pressed == []
    rig.run(2 * SCAN_INTERVAL_S)
    assert rig.pressed == ["5"]
    rig.run(1.0)  # held: no auto-repeat
    assert rig.pressed == ["5"]


def test_bouncing_key_is_reported_once(rig):
    for _ in range(5):  # contact chatters across scans
        rig.matrix.press("8")
        rig.run(SCAN_INTERVAL_S)
        rig.matrix.release("8")
        rig.run(SCAN_INTERVAL_S)
    rig.matrix.press("8")
    rig.run(0.100)
    rig.matrix.release("8")
    rig.run(0.100)
    assert rig.pressed == ["8"]
    assert rig.released == ["8"]


def test_tap_shorter_than_debounce_is_ignored(rig):
    rig.matrix.press("1")
    rig.run(2 * SCAN_INTERVAL_S)
    rig.matrix.release("1")
    rig.run(0.100)
    assert rig.pressed == []


def test_two_keys_held_both_report(rig):
    # same row, same column and diagonal: no rectangle, no ghost
    for first, second in (("1", "2"), ("1", "4"), ("1", "5")):
        rig.matrix.press(first)
        rig.run(0.050)
        rig.matrix.press(second)
        rig.run(0.050)
        assert rig.keypad.pressed == {first, second}
        rig.matrix.release_all()
        rig.run(0.050)
    assert rig.pressed == ["1", "2", "1", "4", "1", "5"]


def test_three_keys_in_an_l_make_the_matrix_show_a_ghost(rig):
    for key in "124":
        rig.matrix.press(key)
    # the physics: with 1, 2, 4 held, 5 reads as pressed too (rows 0-1 x cols 0-1)
    assert rig.keypad.read_matrix() == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_ghost_key_is_never_reported(rig):
    rig.matrix.press("1")
    rig.matrix.press("2")
    rig.run(0.050)
    assert rig.pressed == ["1", "2"]
    rig.matrix.press("4")  # completes the rectangle 1 2 / 4 5: 4 and phantom 5 are ambiguous
    rig.run(0.200)
    assert rig.pressed == ["1", "2"]
    assert rig.keypad.pressed == {"1", "2"}  # the keys held before stay held
    assert rig.keypad.ghosts_suppressed > 0
    rig.matrix.release("2")  # rectangle broken: 4 is now unambiguous and is reported
    rig.run(0.050)
    assert rig.pressed == ["1", "2", "4"]
    assert "5" not in rig.pressed
    assert rig.keypad.pressed == {"1", "4"}


def test_three_keys_pressed_together_in_an_l_report_nothing_until_resolved(rig):
    for key in "124":  # pressed within one scan: 1, 2, 4 and phantom 5 all ambiguous
        rig.matrix.press(key)
    rig.run(0.200)
    assert rig.pressed == []
    rig.matrix.release("1")  # 2 and 4 alone: no rectangle
    rig.run(0.050)
    assert sorted(rig.pressed) == ["2", "4"]


def test_block_of_three_rows_freezes_every_key_in_it(rig):
    for key in "259":  # 2 (0,1), 5 (1,1), 9 (2,2): no rectangle yet
        rig.matrix.press(key)
    rig.run(0.050)
    assert rig.keypad.pressed == {"2", "5", "9"}
    rig.matrix.press("6")  # (1,2) joins columns 1 and 2 for rows 0-2: 3 and 8 become ghosts
    assert rig.keypad.read_matrix() == {(r, c) for r in range(3) for c in (1, 2)}
    rig.run(0.100)
    assert rig.pressed == ["2", "5", "9"]  # neither 6 nor the phantoms 3 and 8


def test_ambiguous_cells_rule():
    assert ambiguous_cells({(0, 0), (0, 1)}) == set()
    assert ambiguous_cells({(0, 0), (1, 1)}) == set()
    square = {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert ambiguous_cells(square | {(3, 2)}) == square
    block = {(r, c) for r in range(3) for c in range(2)}
    assert ambiguous_cells(block) == block


def test_matrix_must_be_wired_before_the_scanner(mock_factory):
    keypad = MatrixKeypad(ROWS, COLS["4x3"], "4x3", DEBOUNCE_S, print, pin_factory=mock_factory)
    keypad.close()
    with pytest.raises(ValueError, match="GPIO5 already exists"):
        KeypadMatrix(mock_factory, ROWS, COLS["4x3"], "4x3")


def test_wrong_pin_count_is_refused(mock_factory):
    with pytest.raises(ValueError, match="3 columns, expected 4 x 4"):
        MatrixKeypad(ROWS, COLS["4x3"], "4x4", DEBOUNCE_S, print, pin_factory=mock_factory)


def test_unknown_key_is_refused(mock_factory):
    matrix = KeypadMatrix(mock_factory, ROWS, COLS["4x3"], "4x3")
    with pytest.raises(ValueError, match="'A'"):
        matrix.press("A")


def test_sim_keypad_injects_keys():
    keys: list[str] = []
    sim = SimKeypad(keys.append, "4x4")
    for key in "12#*D":
        sim.press(key)
    sim.scan(0.0)
    assert keys == list("12#*D")
    with pytest.raises(ValueError, match="'E'"):
        sim.press("E")
    with pytest.raises(ValueError, match="'A'"):
        SimKeypad(keys.append, "4x3").press("A")


def test_at_rest_a_scan_reads_only_the_columns(rig):
    """All rows low at once while nothing is held: no full pass until a key closes."""
    rig.run(1.0)
    assert rig.keypad.full_scans == 0
    rig.tap("5")
    assert rig.pressed == ["5"]
    busy = rig.keypad.full_scans
    assert busy > 0  # the press and its debounce were scanned row by row
    rig.run(1.0)
    assert rig.keypad.full_scans == busy  # and back to resting scans
    rig.tap("#")
    assert rig.pressed == ["5", "#"]
