"""The app on simulated devices: hook and keypad through mock pins, screens, control socket.

No network here (no call layer): these show the event loop, the device wiring and the control
surface. Calls are covered by tests/e2e.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from PIL import Image

from deskphone.app import PhoneApp
from deskphone.config import config_from_dict
from deskphone.control import request_async
from deskphone.devices.build import build_devices


def make_app(tmp_path: Path, **raw: object) -> PhoneApp:
    config = config_from_dict({"identity": {"extension": "201", "display_name": "Alice"},
                               "discovery": {"enabled": False}, **raw}, sim=True)
    devices = build_devices(config, tmp_path)
    ctl_dir = tmp_path / "ctl"
    return PhoneApp(config, data_dir=tmp_path, devices=devices,
                    control_path=ctl_dir / "control.sock")


async def ctl(app: PhoneApp, line: str) -> dict:
    assert app.control is not None
    reply = await request_async(app.control.path, line)
    return reply


def run(coro) -> None:  # noqa: ANN001
    asyncio.run(asyncio.wait_for(coro, 30))


def test_hook_through_the_mock_cradle_contact_gives_dial_tone(tmp_path: Path) -> None:
    async def go() -> None:
        app = make_app(tmp_path)
        await app.start()
        try:
            assert app.state()["call"] == "idle"
            app.devices.sim_hook.set_off_hook(True)
            state = await app.wait_for({"call": "offhook"}, 5)
            assert state["tone"] == "dial"
            app.devices.sim_hook.set_off_hook(False)
            await app.wait_for({"call": "idle"}, 5)
        finally:
            await app.stop()

    run(go())


def test_contact_bounce_gives_one_event(tmp_path: Path) -> None:
    async def go() -> None:
        app = make_app(tmp_path)
        await app.start()
        try:
            events_before = app.counters["events"]
            for _ in range(5):  # a bouncing contact, faster than the debounce time
                app.devices.sim_hook.set_off_hook(True)
                app.devices.sim_hook.set_off_hook(False)
            app.devices.sim_hook.set_off_hook(True)
            await app.wait_for({"call": "offhook"}, 5)
            assert app.counters["events"] - events_before == 1
        finally:
            await app.stop()

    run(go())


async def tap(app: PhoneApp, key: str, digits_after: str) -> None:
    """Hold a key on the simulated matrix until the scanner reports it, then let go."""
    app.devices.sim_keypad.press(key)
    await app.wait_for({"digits": digits_after}, 5)
    app.devices.sim_keypad.release(key)


def test_keys_through_the_matrix_dial_and_star_erases(tmp_path: Path) -> None:
    async def go() -> None:
        app = make_app(tmp_path)
        await app.start()
        try:
            app.devices.sim_hook.set_off_hook(True)
            await app.wait_for({"call": "offhook"}, 5)
            await tap(app, "2", "2")
            app.devices.sim_keypad.release_all()
            await app.wait_for({"call": "dialing"}, 5)
            # the control socket drives the same machine
            reply = await ctl(app, "press 09*")
            assert reply["ok"] and reply["result"]["digits"] == "20"
            assert "20" in reply["result"]["screen"]
            # no call layer: dialling ends on an error screen, never a crash
            reply = await ctl(app, "press #")
            state = await app.wait_for({"call": "ended"}, 5)
            assert "No network" in state["screen"]
        finally:
            await app.stop()

    run(go())


def test_control_state_screenshot_and_errors(tmp_path: Path) -> None:
    async def go() -> None:
        app = make_app(tmp_path)
        await app.start()
        try:
            reply = await ctl(app, "state")
            state = reply["result"]
            for key in ("call", "security", "sas", "peer", "screen"):
                assert key in state
            assert state["call"] == "idle" and state["security"] == "none"
            assert state["sas"] is None and "201" in state["screen"]
            shot = tmp_path / "idle.png"
            reply = await ctl(app, f"screenshot {shot}")
            assert reply["ok"], reply
            with Image.open(shot) as image:
                assert image.size == (512, 256)
                assert image.getbbox() is not None  # something is drawn
            for bad, needle in [("frobnicate", "unknown command"), ("hook sideways", "expected"),
                                ("press 12x", "expected keys"), ("dial ../etc", "expected"),
                                ("confirm-sas", "no SAS"), ("screenshot /tmp/x.jpg", ".png"),
                                ("wait call", "KEY=VALUE"), ("state extra", "usage")]:
                reply = await ctl(app, bad)
                assert reply["ok"] is False and needle in reply["error"], (bad, reply)
            reply = await ctl(app, "wait call=in_call timeout=0.2")
            assert reply["ok"] is False and "timed out" in reply["error"]
        finally:
            await app.stop()

    run(go())


def test_hook_via_control_socket_drives_the_simulated_contact(tmp_path: Path) -> None:
    async def go() -> None:
        app = make_app(tmp_path)
        await app.start()
        try:
            reply = await ctl(app, "hook off")
            assert reply["ok"] and reply["result"]["call"] == "offhook"
            assert app.devices.hook.off_hook  # the debounced pin, not a shortcut
            reply = await ctl(app, "hook on")
            assert reply["result"]["call"] == "idle"
        finally:
            await app.stop()

    run(go())


@pytest.mark.parametrize("polarity", ["normally_open", "normally_closed"])
def test_both_hook_polarities(tmp_path: Path, polarity: str) -> None:
    async def go() -> None:
        app = make_app(tmp_path, pins={"hook": {"polarity": polarity}})
        await app.start()
        try:
            assert app.state()["call"] == "idle"  # the handset starts in its cradle
            reply = await ctl(app, "hook off")
            assert reply["result"]["call"] == "offhook"
        finally:
            await app.stop()

    run(go())


def test_state_is_valid_json_through_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    async def go() -> None:
        app = make_app(tmp_path)
        await app.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "deskphone.cli", "ctl", "--control",
                str(app.control.path), "state", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode == 0, err
            assert json.loads(out)["call"] == "idle"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "deskphone.cli", "ctl", "--control",
                str(app.control.path), "bogus", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode == 1 and b"unknown command" in err
        finally:
            await app.stop()

    run(go())


def test_pi_mode_builds_real_devices_on_whatever_pin_factory_is_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pi mode wires the same hook/keypad classes to the configured pin factory, the OLED over
    I2C and ALSA; here the factory is gpiozero's mock and the panel and sound card are stand-ins."""
    from gpiozero import Device

    from deskphone.devices import audio as audio_mod
    from deskphone.devices import display as display_mod

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    opened: list[tuple] = []
    monkeypatch.setattr(display_mod, "open_oled",
                        lambda *args, **kw: opened.append(args) or display_mod.SimDisplay())
    monkeypatch.setattr(audio_mod, "AlsaAudio",
                        lambda rate, capture_device, playback_device: audio_mod.NullAudio(rate))
    config = config_from_dict({"discovery": {"enabled": False}})
    assert config.devices_mode == "pi"
    devices = build_devices(config, tmp_path)
    try:
        assert opened == [("ssd1306", 1, 0x3C, 0)]
        assert devices.hook is not None and devices.keypad is not None
        assert devices.sim_hook is None and devices.ringer is None  # buzzer off by default
    finally:
        devices.close()
        Device.pin_factory = None
