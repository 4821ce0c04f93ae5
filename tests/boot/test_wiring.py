"""hw/wiring.svg is generated from the pin map and must match it; bad pin maps are refused."""

from __future__ import annotations

import copy
import tomllib
import xml.etree.ElementTree as ET

import pytest

from tests.boot.bootmods import HW, REPO, load

gen_wiring = load(HW / "gen_wiring.py", "deskphone_hw_gen_wiring")
PINMAP = tomllib.loads((REPO / "firmware/deskphone/data/pinmap.toml").read_text())


def test_committed_svg_is_what_the_pin_map_generates() -> None:
    committed = (HW / "wiring.svg").read_text(encoding="utf-8")
    assert gen_wiring.render_svg(PINMAP) == committed, (
        "hw/wiring.svg is stale: run python3 hw/gen_wiring.py and commit the result")


def test_svg_is_well_formed_and_labels_every_used_pin() -> None:
    root = ET.fromstring(gen_wiring.render_svg(PINMAP))
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    for bcm, header in ((17, 11), (5, 29), (6, 31), (13, 33), (19, 35), (12, 32), (16, 36),
                        (20, 38)):
        assert f"GPIO{bcm} {header}" in texts or f"{header} GPIO{bcm}" in texts
    assert {"SDA", "SCL", "VCC 3V3", "GND", "row 1", "col 3"} <= texts


def test_default_pin_map_wires_each_header_pin_once() -> None:
    wires = gen_wiring.wires_from_pinmap(PINMAP)
    pins = [w.pin for w in wires]
    assert len(pins) == len(set(pins))
    assert {w.pin for w in wires if w.device == "display"} == {1, 3, 5, 6}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["hook"].update(pin=5), "header pin 29 .*used by both"),
        (lambda m: m["keypad"]["cols"].__setitem__(0, 2), "GPIO2 is the I2C1 SDA pin"),
        (lambda m: m["led"].update(pin=28), "expected a BCM GPIO number on the 40-pin header"),
        (lambda m: m["display"].update(i2c_bus=0), "display.i2c_bus = 0: expected 1"),
    ],
)
def test_conflicting_pin_maps_are_refused(change, message: str) -> None:
    pinmap = copy.deepcopy(PINMAP)
    change(pinmap)
    with pytest.raises(gen_wiring.PinMapError, match=message):
        gen_wiring.wires_from_pinmap(pinmap)


def test_four_by_four_keypad_uses_header_pin_40() -> None:
    pinmap = copy.deepcopy(PINMAP)
    pinmap["keypad"].update(layout="4x4", cols=[12, 16, 20, 21])
    wires = gen_wiring.wires_from_pinmap(pinmap)
    assert any(w.pin == 40 and w.terminal == "col 4" for w in wires)
    assert ">D</text>" in gen_wiring.render_svg(pinmap)
