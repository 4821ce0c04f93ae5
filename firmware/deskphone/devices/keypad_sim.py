"""Simulated keypads.

`KeypadMatrix` wires gpiozero mock pins together like a real diode-less membrane matrix, so the
real `MatrixKeypad` scanner runs on it unchanged. gpiozero's mock pins are independent of each
other; here the row pins are `MatrixRowPin`s whose every state change re-evaluates the column
pins. A column reads low when it is joined, through held keys, to any row that is driven low --
including backwards through other held keys, so phantom ("ghost") keys appear exactly as they
would on the hardware.

`SimKeypad` is the other path: no matrix, keys injected straight into the app (terminal UI,
control socket).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gpiozero.pins.mock import MockFactory, MockPin

from deskphone.devices.keypad import layout_keys


class MatrixRowPin(MockPin):
    """A mock row pin; driving it (or releasing it to input) re-evaluates the matrix columns."""

    def __init__(self, factory: MockFactory, info: object,
                 matrix: KeypadMatrix | None = None) -> None:
        self.matrix = matrix
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if self.matrix is not None:
            self.matrix.refresh()
        return changed

    def _set_function(self, value: str) -> None:
        super()._set_function(value)
        if self.matrix is not None:
            self.matrix.refresh()

    @property
    def driven_low(self) -> bool:
        return self._function == "output" and not self._state


class KeypadMatrix:
    """The physical matrix: create it *before* the scanner so the row pins get our class."""

    def __init__(self, factory: MockFactory, rows: Sequence[int], cols: Sequence[int],
                 layout: str) -> None:
        self.keys = layout_keys(layout)
        if len(rows) != len(self.keys) or len(cols) != len(self.keys[0]):
            raise ValueError(
                f"keypad matrix: got {len(rows)} rows x {len(cols)} columns, expected "
                f"{len(self.keys)} x {len(self.keys[0])} for layout {layout!r}"
            )
        self._rows: list[MatrixRowPin] = []
        for number in rows:
            pin = factory.pin(number, pin_class=MatrixRowPin, matrix=self)
            if not isinstance(pin, MatrixRowPin):
                raise ValueError(
                    f"keypad matrix: GPIO{number} already exists as {type(pin).__name__}, "
                    f"expected a fresh pin (create the KeypadMatrix before the scanner)"
                )
            self._rows.append(pin)
        self._cols: list[MockPin] = [factory.pin(number) for number in cols]
        self._held: set[tuple[int, int]] = set()

    def _cell(self, key: str) -> tuple[int, int]:
        for r, row in enumerate(self.keys):
            c = row.find(key) if len(key) == 1 else -1
            if c >= 0:
                return r, c
        raise ValueError(f"keypad key: got {key!r}, expected one of {''.join(self.keys)}")

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self.keys[r][c] for r, c in self._held)

    def press(self, key: str) -> None:
        self._held.add(self._cell(key))
        self.refresh()

    def release(self, key: str) -> None:
        self._held.discard(self._cell(key))
        self.refresh()

    def release_all(self) -> None:
        self._held.clear()
        self.refresh()

    def refresh(self) -> None:
        """Set every column input to what the wiring makes it: low if joined to a low row."""
        if not hasattr(self, "_held"):
            return  # still constructing
        low_rows = {r for r, pin in enumerate(self._rows) if pin.driven_low}
        low_cols: set[int] = set()
        # Walk the bipartite graph rows <-> columns whose edges are held keys.
        frontier = set(low_rows)
        seen_rows = set(low_rows)
        while frontier:
            reached = {c for r, c in self._held if r in frontier} - low_cols
            low_cols |= reached
            frontier = {r for r, c in self._held if c in reached} - seen_rows
            seen_rows |= frontier
        for c, pin in enumerate(self._cols):
            if pin.function != "input":
                continue
            if c in low_cols:
                pin.drive_low()
            elif pin.pull == "up":
                pin.drive_high()


class SimKeypad:
    """Keys injected directly (terminal UI, `deskphone ctl key 5`); nothing to scan."""

    def __init__(self, emit: Callable[[str], None] | None = None, layout: str = "4x4") -> None:
        self.keys = layout_keys(layout)
        self._emit = emit or (lambda key: None)

    def set_emit(self, emit: Callable[[str], None]) -> None:
        self._emit = emit

    def press(self, key: str) -> None:
        if len(key) != 1 or not any(key in row for row in self.keys):
            raise ValueError(f"keypad key: got {key!r}, expected one of {''.join(self.keys)}")
        self._emit(key)

    def scan(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass
