"""The simulator and the tests need no C compiler: pyalsaaudio (no wheels) is the [alsa] extra,
installed where ALSA devices are used; the Pi image installs the same pin."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deskphone.devices import audio

REPO = Path(__file__).resolve().parents[2]


def test_pyalsaaudio_is_an_extra_with_the_pin_the_image_installs() -> None:
    project = tomllib.loads((REPO / "firmware/pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pyalsaaudio") for d in project["dependencies"])
    (extra,) = project["optional-dependencies"]["alsa"]
    image = [line.split("#")[0].strip() for line in
             (REPO / "boot/requirements-pi.txt").read_text().splitlines()]
    assert extra.startswith("pyalsaaudio==") and extra in image


def test_alsa_audio_without_pyalsaaudio_says_what_to_install(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_alsa(name: str, *args: object, **kwargs: object) -> object:
        if name == "alsaaudio":
            raise ImportError("No module named 'alsaaudio'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_alsa)
    with pytest.raises(OSError, match=r"pip install 'deskphone\[alsa\]'"):
        audio.AlsaAudio(8000)
