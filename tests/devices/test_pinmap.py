from __future__ import annotations

import pytest

from deskphone.devices.pinmap import PinMapError, default_pinmap_table, load_pinmap


def test_default_pinmap_matches_packaged_file():
    pins = load_pinmap()
    assert pins.keypad.layout == "4x3"
    assert pins.keypad.rows == (5, 6, 13, 19)
    assert pins.keypad.cols == (12, 16, 20)
    assert pins.keypad.keys == ("123", "456", "789", "*0#")
    assert pins.hook.pin == 17 and pins.hook.polarity == "normally_open"
    assert pins.hook.debounce_ms == 40
    assert pins.display.driver == "ssd1306" and pins.display.i2c_address == 0x3C
    assert default_pinmap_table()["buzzer"]["pin"] == 18


def test_overrides_merge_key_by_key():
    pins = load_pinmap({"keypad": {"layout": "4x4", "cols": [12, 16, 20, 21]},
                        "hook": {"polarity": "normally_closed"}})
    assert pins.keypad.layout == "4x4"
    assert pins.keypad.rows == (5, 6, 13, 19)  # untouched
    assert pins.keypad.cols == (12, 16, 20, 21)
    assert pins.keypad.keys[3] == "*0#D"
    assert pins.hook.polarity == "normally_closed" and pins.hook.pin == 17


def test_disabled_optional_pin_may_share_a_number():
    # the buzzer is disabled by default, so its pin is free for the hook
    assert load_pinmap({"hook": {"pin": 18}}).hook.pin == 18


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"hook": {"pin": 28}}, ["pins.hook.pin", "28", "0-27"]),
        ({"hook": {"pin": -1}}, ["pins.hook.pin", "-1", "0-27"]),
        ({"hook": {"pin": True}}, ["pins.hook.pin", "True"]),
        ({"hook": {"pin": "17"}}, ["pins.hook.pin", "'17'"]),
        ({"keypad": {"rows": [5, 6, 13, 40]}}, ["pins.keypad.rows[3]", "40"]),
        ({"hook": {"pin": 5}}, ["pins.hook.pin", "GPIO5", "pins.keypad.rows[0]"]),
        ({"keypad": {"cols": [12, 12, 20]}}, ["pins.keypad.cols[1]", "GPIO12", "cols[0]"]),
        ({"buzzer": {"enabled": True, "pin": 12}}, ["pins.buzzer.pin", "GPIO12"]),
        ({"hook": {"pin": 3}}, ["pins.hook.pin", "GPIO3", "SCL"]),
        ({"keypad": {"layout": "4x4"}}, ["pins.keypad.cols", "3 pins", "expected 4", "'4x4'"]),
        ({"keypad": {"layout": "3x4"}}, ["pins.keypad.layout", "'3x4'", "'4x3'"]),
        ({"keypad": {"rows": [5, 6, 13]}}, ["pins.keypad.rows", "expected 4"]),
        ({"keypad": {"rows": 5}}, ["pins.keypad.rows", "list"]),
        ({"hook": {"polarity": "open"}}, ["pins.hook.polarity", "'open'", "normally_open"]),
        ({"display": {"i2c_address": 0x78}}, ["pins.display.i2c_address", "0x78", "0x03-0x77"]),
        ({"display": {"i2c_address": 0x02}}, ["pins.display.i2c_address", "0x02"]),
        ({"display": {"driver": "ssd1309"}}, ["pins.display.driver", "'ssd1309'", "sh1106"]),
        ({"display": {"rotate": 1}}, ["pins.display.rotate", "got 1", "0 or 2"]),
        ({"led": {"enabled": "yes"}}, ["pins.led.enabled", "'yes'", "true or false"]),
        ({"hook": {"debounce_ms": 0}}, ["pins.hook.debounce_ms", "0"]),
        ({"keypd": {}}, ["'keypd'", "keypad"]),
        ({"hook": {"pinn": 4}}, ["pins.hook", "'pinn'"]),
        ({"hook": 4}, ["pins.hook", "table"]),
    ],
)
def test_bad_pinmaps_are_rejected_naming_key_value_and_expectation(overrides, words):
    with pytest.raises(PinMapError) as caught:
        load_pinmap(overrides)
    assert isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value)


def test_accepted_boundaries():
    pins = load_pinmap({"hook": {"pin": 0}, "led": {"pin": 27, "enabled": True},
                        "display": {"i2c_address": 0x03, "rotate": 2}})
    assert (pins.hook.pin, pins.led.pin, pins.display.i2c_address) == (0, 27, 0x03)
    assert load_pinmap({"display": {"i2c_address": 0x77}}).display.i2c_address == 0x77
