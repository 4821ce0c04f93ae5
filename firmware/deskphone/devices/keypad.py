"""The keypad: a 4x3 or 4x4 membrane matrix scanned from the app's timer, with no thread.

Wiring: each row is an output, idle high; each column an input with its pull-up. A scan drives
one row low at a time (`DigitalOutputDevice(active_high=False)`) and reads the columns: a column
reads low (`DigitalInputDevice(pull_up=True).value == 1`) when a pressed key joins it to the
driven row. gpiozero has no keypad class (its issue #358), so the scan is ours.

Debounce is per key, with the integrating `Debouncer` (a key must read the same for `debounce_s`
of consecutive scans). The app calls `scan(now)` every ~5 ms; at 20 ms debounce a press is
reported 20-25 ms after the contact settles.

Ghost keys. Cheap keypads have no diode per key, so current can flow backwards through held keys:
with 1, 2 and 4 held (rows 0-1, columns 0-1), driving row 1 low pulls column 0 low through 4,
row 0 through 1, and column 1 through 2 -- so 5 reads as pressed too. In general the scan sees
every (row, column) pair joined through held keys, which is always a union of full "blocks"
(some rows x some columns). Any block spanning two or more rows *and* two or more columns is
ambiguous: any of its keys may be a phantom, and no scan can tell which.

The rule: a key that is a corner of a rectangle of keys read as pressed is *ambiguous*; its
debounced state is frozen while it stays ambiguous. Keys already pressed stay pressed (they were
real before the rectangle appeared); a key that would newly appear is not reported until the
rectangle breaks (e.g. one of the other keys is let go), and then only if it still reads pressed.
Two keys held together never form a rectangle, so ordinary two-key rollover always works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from gpiozero import DigitalInputDevice, DigitalOutputDevice
from gpiozero.pins import Factory

from deskphone.devices.debounce import Debouncer
from deskphone.devices.pinmap import KEYPAD_LAYOUTS

# The app's scan tick (documented for the app; the scanner itself takes `now` from the caller).
SCAN_INTERVAL_S = 0.005

Cell = tuple[int, int]  # (row, column)


class Keypad(Protocol):
    """What the app drives: a scan tick (a no-op for keypads that push keys themselves)."""

    def scan(self, now: float) -> None: ...

    def set_emit(self, emit: Callable[[str], None]) -> None: ...

    def close(self) -> None: ...


def layout_keys(layout: str) -> tuple[str, ...]:
    try:
        return KEYPAD_LAYOUTS[layout]
    except KeyError:
        raise ValueError(
            f"keypad layout: got {layout!r}, expected one of {', '.join(KEYPAD_LAYOUTS)}"
        ) from None


def ambiguous_cells(pressed: set[Cell]) -> set[Cell]:
    """Cells that are a corner of a rectangle whose four corners all read as pressed."""
    ambiguous: set[Cell] = set()
    cells = sorted(pressed)
    for i, (r1, c1) in enumerate(cells):
        for r2, c2 in cells[i + 1:]:
            if r1 != r2 and c1 != c2 and (r1, c2) in pressed and (r2, c1) in pressed:
                ambiguous.update({(r1, c1), (r2, c2), (r1, c2), (r2, c1)})
    return ambiguous


class MatrixKeypad:
    def __init__(
        self,
        rows: Sequence[int],
        cols: Sequence[int],
        layout: str,
        debounce_s: float,
        emit: Callable[[str], None] | None = None,
        *,
        emit_release: Callable[[str], None] | None = None,
        pin_factory: Factory | None = None,
    ) -> None:
        self.keys = layout_keys(layout)
        if len(rows) != len(self.keys) or len(cols) != len(self.keys[0]):
            raise ValueError(
                f"keypad pins: got {len(rows)} rows x {len(cols)} columns, expected "
                f"{len(self.keys)} x {len(self.keys[0])} for layout {layout!r}"
            )
        self._emit = emit or (lambda key: None)
        self._emit_release = emit_release
        self._rows: list[DigitalOutputDevice] = []
        self._cols: list[DigitalInputDevice] = []
        try:
            for pin in rows:
                self._rows.append(DigitalOutputDevice(
                    pin, active_high=False, initial_value=False, pin_factory=pin_factory))
            for pin in cols:
                self._cols.append(DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory))
        except Exception:
            self.close()
            raise
        self._debouncers = {
            (r, c): Debouncer(debounce_s)
            for r in range(len(self.keys)) for c in range(len(self.keys[0]))
        }
        self.ghosts_suppressed = 0  # scans in which a rectangle froze at least one key
        self.full_scans = 0
        # Called (from gpiozero's thread on a Pi) when a column falls while the keypad rests, so
        # the app can sleep between key presses instead of polling: the interrupt-driven scheme
        # of Linux's matrix_keypad driver.
        self.on_activity: Callable[[], None] | None = None
        for col in self._cols:
            col.when_activated = self._column_edge
        self._busy = False  # a key is held or settling: scan row by row
        self._rows_all_low = False

    def set_emit(self, emit: Callable[[str], None]) -> None:
        """Where settled key presses go (the app wires this after construction)."""
        self._emit = emit

    @property
    def pressed(self) -> frozenset[str]:
        """Keys whose debounced state is pressed."""
        return frozenset(self.keys[r][c] for (r, c), d in self._debouncers.items() if d.level)

    def read_matrix(self) -> set[Cell]:
        """One raw pass: drive each row low in turn and read which columns follow it."""
        closed: set[Cell] = set()
        for r, row in enumerate(self._rows):
            row.on()  # active_high=False: the pin goes low
            # On real hardware the column lines settle within microseconds of the row edge; the
            # gpiozero call overhead between on() and the reads is longer than that.
            for c, col in enumerate(self._cols):
                if col.value:
                    closed.add((r, c))
            row.off()
        return closed

    def _column_edge(self) -> None:
        callback = self.on_activity
        if callback is not None:
            callback()

    @property
    def resting(self) -> bool:
        """Nothing held or settling, every row driven low: a key press will raise an edge."""
        return self._rows_all_low and not self._busy

    def _idle_and_untouched(self) -> bool:
        """While nothing is held, drive every row low at once: one read per column then tells
        whether any key closed (it joins its column to a low row). A scan tick at rest costs
        three pin reads instead of a full pass -- it runs 100 times a second on a small core."""
        if not self._rows_all_low:
            for row in self._rows:
                row.on()
            self._rows_all_low = True
        if not any(col.value for col in self._cols):
            return True
        for row in self._rows:
            row.off()
        self._rows_all_low = False
        return False

    def scan(self, now: float) -> None:
        """One scan tick: read the matrix, drop ambiguous keys, debounce, emit presses."""
        if not self._busy and self._idle_and_untouched():
            return
        if self._rows_all_low:
            for row in self._rows:
                row.off()
            self._rows_all_low = False
        self.full_scans += 1
        closed = self.read_matrix()
        frozen = ambiguous_cells(closed)
        if frozen:
            self.ghosts_suppressed += 1
        for cell, debouncer in self._debouncers.items():
            if cell in frozen:
                debouncer.hold(now)
                continue
            changed = debouncer.update(cell in closed, now)
            if changed is True:
                self._emit(self.keys[cell[0]][cell[1]])
            elif changed is False and self._emit_release is not None:
                self._emit_release(self.keys[cell[0]][cell[1]])
        self._busy = bool(closed) or any(
            d.level or d.get_timer() is not None for d in self._debouncers.values())

    def close(self) -> None:
        for device in (*self._rows, *self._cols):
            device.close()
        self._rows.clear()
        self._cols.clear()
