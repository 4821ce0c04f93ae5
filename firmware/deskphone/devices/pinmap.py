"""The pin map: which BCM GPIO drives what, loaded from package data and validated.

`data/pinmap.toml` is the default wiring (it is also what hw/wiring.svg is generated from). The
config file's `[pins]` table overrides it key by key, section by section:

    [pins.keypad]
    layout = "4x4"
    cols = [12, 16, 20, 21]

Validation happens once, here, so the devices can trust what they are given. Every error names
the key, the value and what was expected, and is a `PinMapError` (a `ValueError`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

# BCM numbering on the 40-pin header: GPIO0..GPIO27. GPIO0/1 are the HAT ID EEPROM bus and
# GPIO2/3 are I2C1 (the OLED), so using them for anything else is refused below.
GPIO_MIN = 0
GPIO_MAX = 27
I2C1_PINS = (2, 3)  # SDA, SCL: taken by the display on i2c bus 1
# 7-bit I2C addresses 0x00-0x02 and 0x78-0x7F are reserved (I2C-bus specification UM10204 §3.1.12)
I2C_ADDRESS_MIN = 0x03
I2C_ADDRESS_MAX = 0x77

KEYPAD_LAYOUTS: dict[str, tuple[str, ...]] = {
    "4x3": ("123", "456", "789", "*0#"),
    "4x4": ("123A", "456B", "789C", "*0#D"),
}
HOOK_POLARITIES = ("normally_open", "normally_closed")
DISPLAY_DRIVERS = ("ssd1306", "sh1106")
# Screens are drawn 128x64 landscape; a quarter turn would make the panel 64x128.
DISPLAY_ROTATIONS = (0, 2)

SECTIONS: dict[str, tuple[str, ...]] = {
    "keypad": ("layout", "rows", "cols", "debounce_ms"),
    "hook": ("pin", "polarity", "debounce_ms"),
    "buzzer": ("pin", "enabled"),
    "led": ("pin", "enabled"),
    "display": ("driver", "i2c_bus", "i2c_address", "rotate"),
}


class PinMapError(ValueError):
    """The pin map (default or overridden) is not something the hardware can be wired as."""


@dataclass(frozen=True)
class KeypadPins:
    layout: str
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    debounce_ms: int

    @property
    def keys(self) -> tuple[str, ...]:
        """Key labels row by row, e.g. ("123", "456", "789", "*0#")."""
        return KEYPAD_LAYOUTS[self.layout]


@dataclass(frozen=True)
class HookPins:
    pin: int
    polarity: str  # "normally_open" | "normally_closed"
    debounce_ms: int


@dataclass(frozen=True)
class OptionalPin:
    pin: int
    enabled: bool


@dataclass(frozen=True)
class DisplayPins:
    driver: str  # "ssd1306" | "sh1106"
    i2c_bus: int
    i2c_address: int
    rotate: int  # 0 or 2 (quarter turns)


@dataclass(frozen=True)
class PinMap:
    keypad: KeypadPins
    hook: HookPins
    buzzer: OptionalPin
    led: OptionalPin
    display: DisplayPins


def default_pinmap_table() -> dict[str, Any]:
    """The packaged default pin map as a plain TOML table."""
    text = resources.files("deskphone").joinpath("data/pinmap.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_pinmap(overrides: Mapping[str, Any] | None = None) -> PinMap:
    """Default pin map merged with `overrides` (the config's `[pins]` table), validated."""
    return parse_pinmap(merge_pinmap(default_pinmap_table(), overrides or {}))


def merge_pinmap(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Section-by-section, key-by-key merge. Unknown sections or keys are errors (typos)."""
    merged = {name: dict(base.get(name, {})) for name in SECTIONS}
    for section, table in overrides.items():
        if section not in SECTIONS:
            raise PinMapError(
                f"pins: unknown section {section!r}; expected one of {', '.join(SECTIONS)}"
            )
        if not isinstance(table, Mapping):
            raise PinMapError(f"pins.{section}: got {table!r}, expected a table of keys")
        for key, value in table.items():
            if key not in SECTIONS[section]:
                raise PinMapError(
                    f"pins.{section}: unknown key {key!r}; expected one of "
                    f"{', '.join(SECTIONS[section])}"
                )
            merged[section][key] = value
    return merged


def parse_pinmap(table: Mapping[str, Any]) -> PinMap:
    """Validate a complete pin map table and build the typed `PinMap`."""
    reader = _Reader(table)
    layout = reader.choice("keypad", "layout", tuple(KEYPAD_LAYOUTS))
    rows = reader.pin_list("keypad", "rows")
    cols = reader.pin_list("keypad", "cols")
    row_labels = KEYPAD_LAYOUTS[layout]
    if len(rows) != len(row_labels):
        raise PinMapError(
            f"pins.keypad.rows: got {len(rows)} pins {list(rows)}, expected {len(row_labels)} "
            f"for layout {layout!r}"
        )
    if len(cols) != len(row_labels[0]):
        raise PinMapError(
            f"pins.keypad.cols: got {len(cols)} pins {list(cols)}, expected "
            f"{len(row_labels[0])} for layout {layout!r}"
        )
    keypad = KeypadPins(layout, rows, cols, reader.integer("keypad", "debounce_ms", 1, 500))
    hook = HookPins(
        pin=reader.pin("hook", "pin"),
        polarity=reader.choice("hook", "polarity", HOOK_POLARITIES),
        debounce_ms=reader.integer("hook", "debounce_ms", 1, 1000),
    )
    buzzer = OptionalPin(reader.pin("buzzer", "pin"), reader.boolean("buzzer", "enabled"))
    led = OptionalPin(reader.pin("led", "pin"), reader.boolean("led", "enabled"))
    rotate = reader.integer("display", "rotate", 0, 3)
    if rotate not in DISPLAY_ROTATIONS:
        raise PinMapError(
            f"pins.display.rotate: got {rotate}, expected 0 or 2 (screens are 128x64 landscape; "
            f"a quarter turn would make the panel 64x128)"
        )
    display = DisplayPins(
        driver=reader.choice("display", "driver", DISPLAY_DRIVERS),
        i2c_bus=reader.integer("display", "i2c_bus", 0, 255),
        i2c_address=reader.integer("display", "i2c_address", I2C_ADDRESS_MIN, I2C_ADDRESS_MAX,
                                   hex_in_error=True),
        rotate=rotate,
    )
    pinmap = PinMap(keypad, hook, buzzer, led, display)
    _check_no_pin_used_twice(pinmap)
    return pinmap


def _check_no_pin_used_twice(pinmap: PinMap) -> None:
    seen: dict[int, str] = {}
    named = [(pin, f"keypad.rows[{i}]") for i, pin in enumerate(pinmap.keypad.rows)]
    named += [(pin, f"keypad.cols[{i}]") for i, pin in enumerate(pinmap.keypad.cols)]
    named.append((pinmap.hook.pin, "hook.pin"))
    if pinmap.buzzer.enabled:
        named.append((pinmap.buzzer.pin, "buzzer.pin"))
    if pinmap.led.enabled:
        named.append((pinmap.led.pin, "led.pin"))
    for pin, name in named:
        if pinmap.display.i2c_bus == 1 and pin in I2C1_PINS:
            raise PinMapError(
                f"pins.{name}: GPIO{pin} is I2C1 {'SDA' if pin == 2 else 'SCL'}, used by the "
                f"display on i2c bus 1; expected any other GPIO {GPIO_MIN}-{GPIO_MAX}"
            )
        if pin in seen:
            raise PinMapError(
                f"pins.{name}: GPIO{pin} is already used by pins.{seen[pin]}; expected each pin "
                f"to be used once"
            )
        seen[pin] = name


class _Reader:
    """Typed access to `table[section][key]` with errors that name the key and value."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self._table = table

    def _get(self, section: str, key: str) -> Any:
        part = self._table.get(section)
        if not isinstance(part, Mapping) or key not in part:
            raise PinMapError(f"pins.{section}.{key}: missing, expected a value")
        return part[key]

    def integer(self, section: str, key: str, low: int, high: int,
                hex_in_error: bool = False) -> int:
        value = self._get(section, key)
        # bool is an int subclass in Python; `true` is never a valid number here.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown = f"{value:#04x}" if hex_in_error and _is_int(value) else repr(value)
            bounds = f"{low:#04x}-{high:#04x}" if hex_in_error else f"{low}-{high}"
            raise PinMapError(f"pins.{section}.{key}: got {shown}, expected an integer {bounds}")
        return value

    def pin(self, section: str, key: str) -> int:
        value = self._get(section, key)
        return _check_pin(f"pins.{section}.{key}", value)

    def pin_list(self, section: str, key: str) -> tuple[int, ...]:
        value = self._get(section, key)
        if not isinstance(value, list | tuple) or not value:
            raise PinMapError(
                f"pins.{section}.{key}: got {value!r}, expected a list of GPIO numbers"
            )
        return tuple(_check_pin(f"pins.{section}.{key}[{i}]", v) for i, v in enumerate(value))

    def choice(self, section: str, key: str, allowed: tuple[str, ...]) -> str:
        value = self._get(section, key)
        if value not in allowed:
            raise PinMapError(
                f"pins.{section}.{key}: got {value!r}, expected one of "
                + ", ".join(repr(a) for a in allowed)
            )
        return str(value)

    def boolean(self, section: str, key: str) -> bool:
        value = self._get(section, key)
        if not isinstance(value, bool):
            raise PinMapError(f"pins.{section}.{key}: got {value!r}, expected true or false")
        return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_pin(name: str, value: Any) -> int:
    if not _is_int(value) or not GPIO_MIN <= value <= GPIO_MAX:
        raise PinMapError(
            f"{name}: got {value!r}, expected a BCM GPIO number {GPIO_MIN}-{GPIO_MAX}"
        )
    return int(value)
