"""Build the phone's devices from the configuration: real ones on a Pi, simulated ones elsewhere.

The choice is made here, once, by `[devices] mode` — never by `if testing:` inside the logic. In
`sim` mode the *same* hook and keypad classes run on gpiozero's MockFactory (the keypad through a
matrix simulator), the display is luma's `dummy` device, audio goes to files or nowhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from deskphone.app import Devices
from deskphone.config import Config
from deskphone.devices.pinmap import PinMap, load_pinmap

log = logging.getLogger(__name__)


def _unwired(*_args: object) -> None:
    """Until the app calls set_emit, device events go nowhere."""


def build_devices(config: Config, data_dir: Path) -> Devices:
    pins = load_pinmap(config.pins)
    if config.devices_mode == "sim":
        return _build_sim(config, pins)
    return _build_pi(config, pins)


def _audio(config: Config) -> Any:
    from deskphone.devices import audio

    a = config.audio
    if config.devices_mode == "sim":
        if a.capture_file or a.playback_file:
            return audio.FileAudio(capture_file=a.capture_file, playback_file=a.playback_file,
                                   rate=a.rate)
        return audio.NullAudio(rate=a.rate)
    return audio.AlsaAudio(rate=a.rate, capture_device=a.capture, playback_device=a.playback)


def _build_sim(config: Config, pins: PinMap) -> Devices:
    from gpiozero.pins.mock import MockFactory

    from deskphone.devices.display import SimDisplay
    from deskphone.devices.hook import HookSwitch
    from deskphone.devices.hook_sim import SimHookContact
    from deskphone.devices.keypad import MatrixKeypad
    from deskphone.devices.keypad_sim import KeypadMatrix

    factory = MockFactory()
    matrix = KeypadMatrix(factory, pins.keypad.rows, pins.keypad.cols, pins.keypad.layout)
    keypad = MatrixKeypad(pins.keypad.rows, pins.keypad.cols, pins.keypad.layout,
                          pins.keypad.debounce_ms / 1000, _unwired, pin_factory=factory)
    sim_hook = SimHookContact(factory, pins.hook.pin, pins.hook.polarity)
    sim_hook.set_off_hook(False)  # the handset starts in its cradle
    hook = HookSwitch(pins.hook.pin, pins.hook.polarity, pins.hook.debounce_ms / 1000,
                      _unwired, pin_factory=factory)
    display = SimDisplay()
    audio = _audio(config)
    devices = Devices(display=display, audio=audio, hook=hook, keypad=keypad, ringer=None,
                      sim_hook=sim_hook, sim_keypad=matrix)
    devices.closers += [factory.close, display.close, hook.close, keypad.close, audio.close]
    return devices


def _build_pi(config: Config, pins: PinMap) -> Devices:
    """The real devices. The OLED opens first, so a later failure can be shown on it: the
    StartupError then carries the still-open display (deskphone.startup)."""
    from deskphone.devices.display import open_oled
    from deskphone.devices.gpiod_factory import DEFAULT_CHIP, default_pi_factory
    from deskphone.devices.hook import HookSwitch
    from deskphone.devices.keypad import MatrixKeypad
    from deskphone.startup import StartupError, explain

    devices = Devices(display=None, audio=None)
    d = pins.display
    subject = f"OLED {d.driver} on /dev/i2c-{d.i2c_bus} at 0x{d.i2c_address:02x}"
    try:
        devices.display = open_oled(d.driver, d.i2c_bus, d.i2c_address, d.rotate)
        # Debian's arm64 kernel exposes GPIO only as /dev/gpiochip*: our libgpiod v2 factory
        # (hw/README.md explains the choice), unless $GPIOZERO_PIN_FACTORY names another.
        subject = f"GPIO {DEFAULT_CHIP}"
        factory = default_pi_factory()
        if factory is not None:
            devices.closers.append(factory.close)
        subject = f"hook switch on GPIO{pins.hook.pin} ({DEFAULT_CHIP})"
        devices.hook = HookSwitch(pins.hook.pin, pins.hook.polarity,
                                  pins.hook.debounce_ms / 1000, _unwired, pin_factory=factory)
        devices.closers.append(devices.hook.close)
        rows = ",".join(str(p) for p in pins.keypad.rows + pins.keypad.cols)
        subject = f"keypad on GPIO {rows} ({DEFAULT_CHIP})"
        devices.keypad = MatrixKeypad(pins.keypad.rows, pins.keypad.cols, pins.keypad.layout,
                                      pins.keypad.debounce_ms / 1000, _unwired,
                                      pin_factory=factory)
        devices.closers.append(devices.keypad.close)
        a = config.audio
        subject = f"handset audio (ALSA {a.capture!r}/{a.playback!r})"
        devices.audio = _audio(config)
        devices.closers.append(devices.audio.close)
        if pins.buzzer.enabled:
            from deskphone.devices.ringer import BuzzerRinger

            subject = f"buzzer on GPIO{pins.buzzer.pin} ({DEFAULT_CHIP})"
            devices.ringer = BuzzerRinger(pins.buzzer.pin, pin_factory=factory)
            devices.closers.append(devices.ringer.close)
    except Exception as exc:
        log.debug("%s failed", subject, exc_info=True)
        display = devices.display
        devices.close()  # everything but the display, which is not in closers yet
        raise StartupError(explain(exc, subject=subject), display=display) from exc
    devices.closers.insert(0, devices.display.close)  # closed last: it shows what happened
    return devices
