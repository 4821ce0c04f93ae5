"""Earpiece and ringer volume: bounded levels, saved atomically, a bad settings file costs
nothing but the bad values; the gain scales frames with saturation."""

from __future__ import annotations

import logging
from array import array
from pathlib import Path

import pytest

from deskphone.devices.microphone import scale_s16
from deskphone.phone_files import VolumeKeeper


def test_levels_are_bounded_saved_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    keeper = VolumeKeeper(path)
    assert keeper.levels == {"earpiece": 8, "ringer": 8} and keeper.gain("ringer") == 1.0
    assert keeper.change("earpiece", "up") == 9
    assert [keeper.change("earpiece", "up") for _ in range(3)] == [10, 10, 10]
    assert keeper.change("ringer", "2") == 2 and keeper.change("ringer", "down") == 1
    assert VolumeKeeper(path).levels == {"earpiece": 10, "ringer": 1}


def test_a_bad_settings_file_keeps_the_good_values(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"volume": {"earpiece": 3, "ringer": 99, "\\u001b[2J": 1}}')
    with caplog.at_level(logging.WARNING):
        keeper = VolumeKeeper(path)
    assert keeper.levels == {"earpiece": 3, "ringer": 8}
    assert "field 'volume.ringer' is 99" in caplog.text and "\x1b" not in caplog.text
    path.write_text("{garbage")
    assert VolumeKeeper(path).levels == {"earpiece": 8, "ringer": 8}


def test_scale_saturates() -> None:
    frame = array("h", [1000, -1000, 30000, -30000]).tobytes()
    assert array("h", scale_s16(frame, 0.5)).tolist() == [500, -500, 15000, -15000]
    assert array("h", scale_s16(frame, 1.25)).tolist() == [1250, -1250, 32767, -32768]
    assert scale_s16(frame, 1.0) is frame
