#!/usr/bin/env python3
"""Draw hw/wiring.svg from the pin map: the 40-pin header and a wire from every used pin.

    python3 hw/gen_wiring.py [PINMAP] [OUT.svg]     (defaults: the firmware's data/pinmap.toml,
                                                     hw/wiring.svg)

Pure Python (tomllib and string formatting), deterministic output: tests/boot regenerates the
SVG and compares it with the committed file, so the drawing and the pin map cannot drift.
Refuses a pin map that uses a pin twice, a pin that is not a GPIO on the header, or the I2C pins
(GPIO2/3) for anything but the OLED.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
DEFAULT_PINMAP = HERE.parent / "firmware" / "deskphone" / "data" / "pinmap.toml"
DEFAULT_SVG = HERE / "wiring.svg"

# The Raspberry Pi 40-pin header (Pi 2 B and later, Zero 2 W): header pin -> function.
HEADER: dict[int, str] = {
    1: "3V3", 2: "5V", 3: "GPIO2", 4: "5V", 5: "GPIO3", 6: "GND", 7: "GPIO4", 8: "GPIO14",
    9: "GND", 10: "GPIO15", 11: "GPIO17", 12: "GPIO18", 13: "GPIO27", 14: "GND", 15: "GPIO22",
    16: "GPIO23", 17: "3V3", 18: "GPIO24", 19: "GPIO10", 20: "GND", 21: "GPIO9", 22: "GPIO25",
    23: "GPIO11", 24: "GPIO8", 25: "GND", 26: "GPIO7", 27: "GPIO0", 28: "GPIO1", 29: "GPIO5",
    30: "GND", 31: "GPIO6", 32: "GPIO12", 33: "GPIO13", 34: "GND", 35: "GPIO19", 36: "GPIO16",
    37: "GPIO26", 38: "GPIO20", 39: "GND", 40: "GPIO21",
}
BCM_TO_HEADER = {int(f[4:]): pin for pin, f in HEADER.items() if f.startswith("GPIO")}
RESERVED_BCM = {0: "ID EEPROM (ID_SD)", 1: "ID EEPROM (ID_SC)", 2: "I2C1 SDA", 3: "I2C1 SCL"}
KEYPAD_KEYS = {"4x3": ["123", "456", "789", "*0#"], "4x4": ["123A", "456B", "789C", "*0#D"]}


class PinMapError(ValueError):
    pass


@dataclass(frozen=True)
class Wire:
    pin: int          # header pin
    device: str       # box it goes to: display, hook, led, buzzer, keypad
    terminal: str     # what the device calls that wire


def header_pin(bcm: object, key: str) -> int:
    if not isinstance(bcm, int) or isinstance(bcm, bool) or bcm not in BCM_TO_HEADER:
        raise PinMapError(f"{key} = {bcm!r}: expected a BCM GPIO number on the 40-pin header "
                          f"(one of {sorted(BCM_TO_HEADER)})")
    if bcm in RESERVED_BCM:
        raise PinMapError(f"{key} = {bcm}: GPIO{bcm} is the {RESERVED_BCM[bcm]} pin; "
                          "expected another GPIO")
    return BCM_TO_HEADER[bcm]


def wires_from_pinmap(pinmap: dict) -> list[Wire]:
    """Every wire to draw; raises PinMapError on a pin used twice or a reserved pin."""
    wires: list[Wire] = []
    display = pinmap.get("display", {})
    if display.get("i2c_bus", 1) != 1:
        raise PinMapError(f"display.i2c_bus = {display.get('i2c_bus')!r}: expected 1 "
                          "(header pins 3/5; the only I2C bus Debian's kernel enables there)")
    driver = str(display.get("driver", "ssd1306")).upper()
    addr = int(display.get("i2c_address", 0x3C))
    wires += [Wire(1, "display", "VCC 3V3"), Wire(3, "display", "SDA"),
              Wire(5, "display", "SCL"), Wire(6, "display", "GND")]
    hook = pinmap["hook"]
    wires += [Wire(header_pin(hook["pin"], "hook.pin"), "hook", "switch"),
              Wire(9, "hook", "switch (GND)")]
    keypad = pinmap["keypad"]
    for i, bcm in enumerate(keypad["rows"]):
        wires.append(Wire(header_pin(bcm, f"keypad.rows[{i}]"), "keypad", f"row {i + 1}"))
    for i, bcm in enumerate(keypad["cols"]):
        wires.append(Wire(header_pin(bcm, f"keypad.cols[{i}]"), "keypad", f"col {i + 1}"))
    led = pinmap.get("led", {})
    if "pin" in led:
        wires += [Wire(header_pin(led["pin"], "led.pin"), "led", "anode via 330 Ω"),
                  Wire(25, "led", "cathode (GND)")]
    buzzer = pinmap.get("buzzer", {})
    if "pin" in buzzer:
        wires += [Wire(header_pin(buzzer["pin"], "buzzer.pin"), "buzzer", "base via 1 kΩ"),
                  Wire(2, "buzzer", "buzzer + (5V)"), Wire(14, "buzzer", "emitter (GND)")]
    seen: dict[int, Wire] = {}
    for wire in wires:
        if wire.pin in seen:
            raise PinMapError(f"header pin {wire.pin} ({HEADER[wire.pin]}) is used by both "
                              f"{seen[wire.pin].device} {seen[wire.pin].terminal} and "
                              f"{wire.device} {wire.terminal}; expected each pin once")
        seen[wire.pin] = wire
    _ = (driver, addr)
    return wires


# --- drawing -----------------------------------------------------------------------------------
PITCH = 22
LABEL_GAP = 78                       # room for a pin's "GPIO17 11" label
LANE = 13
HEADER_TOP = 230
LEFT_X, RIGHT_X = 470, 510          # centres of the odd (left) and even (right) pin columns
WIDTH, HEIGHT = 980, 1000
COLOURS = {"display": "#1f77b4", "hook": "#d62728", "keypad": "#2ca02c", "led": "#9467bd",
           "buzzer": "#ff7f0e"}
BOXES = {  # x, y, w, h
    "display": (250, 30, 480, 110),
    "hook": (20, 300, 160, 90),
    "led": (20, 430, 160, 90),
    "buzzer": (800, 300, 160, 110),
    "keypad": (250, 760, 480, 200),
}


def pin_xy(pin: int) -> tuple[int, int]:
    return (LEFT_X if pin % 2 else RIGHT_X), HEADER_TOP + ((pin - 1) // 2) * PITCH


def box_title(device: str, pinmap: dict) -> tuple[str, str]:
    display = pinmap.get("display", {})
    keypad = pinmap["keypad"]
    hook = pinmap["hook"]
    return {
        "display": (f"OLED 128x64 I2C ({str(display.get('driver', 'ssd1306')).upper()})",
                    (f"address 0x{int(display.get('i2c_address', 0x3C)):02X}, bus "
                    f"{display.get('i2c_bus', 1)}")),
        "hook": ("Hook switch", (f"{hook.get('polarity', 'normally_open').replace('_', ' ')}, "
                                f"{hook.get('debounce_ms', 40)} ms")),
        "keypad": (f"Membrane keypad {keypad.get('layout', '4x3')}",
                   "rows driven low in turn, cols pulled up"),
        "led": ("Secure LED", "optional" if not pinmap.get("led", {}).get("enabled") else ""),
        "buzzer": ("Piezo ringer + NPN", "optional"
                   if not pinmap.get("buzzer", {}).get("enabled") else ""),
    }[device]


def render_svg(pinmap: dict) -> str:
    wires = wires_from_pinmap(pinmap)
    used = {w.pin: w for w in wires}
    out: list[str] = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="11">'),
        '<title>deskphone wiring (generated by hw/gen_wiring.py from pinmap.toml)</title>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        (f'<rect x="{LEFT_X - 20}" y="{HEADER_TOP - 20}" width="{RIGHT_X - LEFT_X + 40}" '
        f'height="{19 * PITCH + 40}" rx="4" fill="#222"/>'),
        (f'<text x="{(LEFT_X + RIGHT_X) // 2}" y="{HEADER_TOP - 28}" text-anchor="middle" '
        'font-weight="bold">Raspberry Pi 40-pin header (pin 1 top left)</text>'),
    ]
    # Lanes: each wire leaves its pin sideways (past the pin's label) to a private vertical
    # lane. Upward wires (OLED) take the inner lanes, topmost pin innermost; side boxes next;
    # downward wires (keypad) the outer lanes, topmost pin outermost, so no two wires cross.
    lane_of: dict[Wire, int] = {}
    for side_is_left in (True, False):
        side = [w for w in wires if (w.pin % 2 == 1) == side_is_left]
        up = sorted((w for w in side if w.device == "display"), key=lambda w: w.pin)
        mid = sorted((w for w in side if w.device not in ("display", "keypad")),
                     key=lambda w: -w.pin)
        down = sorted((w for w in side if w.device == "keypad"), key=lambda w: -w.pin)
        for i, w in enumerate(up + mid + down):
            lane_of[w] = i
    slot_of: dict[str, int] = {}
    labels: list[str] = []  # drawn last, over the boxes
    for wire in wires:
        px, py = pin_xy(wire.pin)
        colour = COLOURS[wire.device]
        bx, by, bw, bh = BOXES[wire.device]
        left = px == LEFT_X
        reach = LABEL_GAP + LANE * lane_of[wire]
        lx = px - reach if left else px + reach
        start_x = px - LABEL_GAP + 8 if left else px + LABEL_GAP - 8
        if wire.device in ("display", "keypad"):
            ey = by + bh if wire.device == "display" else by
            points = [(px, py), (lx, py), (lx, ey)]
            ty = ey + 6 if wire.device == "display" else ey - 6
            anchor = "end" if wire.device == "display" else "start"
            # the terminal name runs along the lane, just outside the box
            label = (f'<text transform="translate({lx - 3},{ty}) rotate(-90)" '
                     f'text-anchor="{anchor}" font-size="9" fill="{colour}">'
                     f'{escape(wire.terminal)}</text>')
        else:
            slot = slot_of.get(wire.device, 0)
            slot_of[wire.device] = slot + 1
            ex = bx + bw if left else bx
            ty = by + 46 + 18 * slot
            points = [(px, py), (lx, py), (lx, ty), (ex, ty)]
            label = (f'<text x="{ex - 6 if left else ex + 6}" y="{ty - 3}" '
                     f'text-anchor="{"end" if left else "start"}" font-size="9" '
                     f'fill="{colour}">{escape(wire.terminal)}</text>')
        points[0] = (start_x, py)  # the wire starts past the pin's own label
        dash = ' stroke-dasharray="6 3"' if wire.device in ("led", "buzzer") else ""
        path = " ".join(f"{x},{y}" for x, y in points)
        out.append(f'<line x1="{px}" y1="{py}" x2="{start_x}" y2="{py}" stroke="{colour}" '
                   f'stroke-width="1" stroke-opacity="0.35"/>')
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        labels.append(label)
    # the header's pins with their numbers and functions
    for pin in range(1, 41):
        px, py = pin_xy(pin)
        function = HEADER[pin]
        wire = used.get(pin)
        fill = COLOURS[wire.device] if wire else ("#c00" if "V" in function else
                                                   "#555" if function == "GND" else "#bbb")
        out.append(f'<circle cx="{px}" cy="{py}" r="6" fill="{fill}" stroke="white"/>')
        tx, anchor = (px - 12, "end") if pin % 2 else (px + 12, "start")
        weight = ' font-weight="bold"' if wire else ' fill="#999"'
        label = f"{pin} {function}" if pin % 2 == 0 else f"{function} {pin}"
        out.append(f'<text x="{tx}" y="{py + 4}" text-anchor="{anchor}" font-size="9"'
                   f'{weight}>{label}</text>')
    # device boxes
    for device, (bx, by, bw, bh) in BOXES.items():
        if not any(w.device == device for w in wires):
            continue
        title, subtitle = box_title(device, pinmap)
        dash = ' stroke-dasharray="6 3"' if device in ("led", "buzzer") else ""
        out.append(f'<rect x="{bx}" y="{by}" width="{bw}" height="{bh}" rx="6" fill="#f8f8f8" '
                   f'stroke="{COLOURS[device]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{bx + 10}" y="{by + 18}" font-weight="bold" font-size="12">'
                   f'{escape(title)}</text>')
        if subtitle:
            out.append(f'<text x="{bx + 10}" y="{by + 32}" fill="#444">{escape(subtitle)}</text>')
    # keypad face
    kx, ky, kw, _kh = BOXES["keypad"]
    layout = KEYPAD_KEYS.get(pinmap["keypad"].get("layout", "4x3"), KEYPAD_KEYS["4x3"])
    for r, row in enumerate(layout):
        for c, key in enumerate(row):
            x, y = kx + kw // 2 - 60 + 34 * c, ky + 50 + 34 * r
            out.append(f'<rect x="{x}" y="{y}" width="28" height="28" rx="4" fill="white" '
                       f'stroke="#2ca02c"/><text x="{x + 14}" y="{y + 19}" text-anchor="middle" '
                       f'font-size="13">{escape(key)}</text>')
    out.extend(labels)
    out.append(f'<text x="20" y="{HEIGHT - 12}" fill="#666">Generated from pinmap.toml by '
               'hw/gen_wiring.py; BCM GPIO numbers, header pins numbered as on the board. '
               'Dashed: optional parts.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    pinmap_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PINMAP
    svg_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_SVG
    try:
        svg = render_svg(tomllib.loads(pinmap_path.read_text(encoding="utf-8")))
    except (PinMapError, KeyError, tomllib.TOMLDecodeError) as exc:
        print(f"gen_wiring: {pinmap_path}: {exc}", file=sys.stderr)
        return 1
    svg_path.write_text(svg, encoding="utf-8")
    print(f"gen_wiring: wrote {svg_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
