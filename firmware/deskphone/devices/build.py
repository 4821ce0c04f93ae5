"""Build the phone's devices from the configuration: real ones on a Pi, simulated ones elsewhere.

The choice is made here, once, by `[devices] mode` — never by `if testing:` inside the logic. In
`sim` mode the *same* hook and keypad classes run on gpiozero's MockFactory (the keypad through a
matrix simulator), the display is luma's `dummy` device, audio goes to files or nowhere.

devices/ is the bottom layer: this module reads the configuration through `DeviceSettings`, the
three fields it needs (deskphone.config.Config has them), and imports nothing above devices/
(deskphone.startup, which words a failure as one line, is stdlib-only and below it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gpiozero.pins.mock import MockFactory

# Looked up per call: tests stand in a panel, ALSA, a busy GPIO chip.
from deskphone.devices import audio, display, gpiod_factory
from deskphone.devices.audio_reopen import ReopeningAudio
from deskphone.devices.hook import HookSwitch
from deskphone.devices.hook_sim import SimHookContact
from deskphone.devices.keypad import MatrixKeypad
from deskphone.devices.keypad_sim import KeypadMatrix
from deskphone.devices.pinmap import PinMap, load_pinmap
from deskphone.devices.ringer import BuzzerRinger
from deskphone.startup import StartupError, explain

log = logging.getLogger(__name__)


class AudioDeviceSettings(Protocol):
    """The `[audio]` fields that pick and open the audio device."""

    @property
    def capture(self) -> str: ...
    @property
    def playback(self) -> str: ...
    @property
    def capture_file(self) -> str | None: ...
    @property
    def playback_file(self) -> str | None: ...
    @property
    def rate(self) -> int: ...
    @property
    def device_nodes(self) -> bool: ...


class DeviceSettings(Protocol):
    """What building the devices reads from the configuration."""

    @property
    def devices_mode(self) -> str: ...  # "sim" or "pi"
    @property
    def audio(self) -> AudioDeviceSettings: ...
    @property
    def pins(self) -> Mapping[str, Any]: ...


@dataclass
class Devices:
    """The phone's hardware, real or simulated."""

    display: Any
    audio: Any  # AudioPort
    hook: Any | None = None  # HookSwitch (None: hook only from the control socket/terminal)
    keypad: Any | None = None  # MatrixKeypad (None: keys only from the control socket/terminal)
    ringer: Any | None = None  # a GPIO buzzer; None rings through the audio output
    sim_hook: Any | None = None  # simulator handles (mock pins) when mode = "sim"
    sim_keypad: Any | None = None  # the KeypadMatrix simulator: press(key) / release(key)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                close()


def has_letter_keys(devices: Devices) -> bool:
    """The keypad has A-D (4x4). Without a keypad, keys come only from the control socket,
    which has them all."""
    keys = getattr(devices.keypad, "keys", None)
    return keys is None or any("A" in row for row in keys)


def _unwired(*_args: object) -> None:
    """Until the app calls set_emit, device events go nowhere."""


def build_devices(config: DeviceSettings, data_dir: Path) -> Devices:
    pins = load_pinmap(config.pins)
    if config.devices_mode == "sim":
        return _build_sim(config, pins)
    return _build_pi(config, pins)


def _audio(config: DeviceSettings) -> Any:
    a = config.audio
    if config.devices_mode == "sim":
        if a.device_nodes:  # a handset that can be unplugged: the same re-opening as ALSA's
            return ReopeningAudio(lambda: audio.NodeAudio(
                rate=a.rate, capture_node=a.capture_file, playback_node=a.playback_file))
        if a.capture_file or a.playback_file:
            return audio.FileAudio(capture_file=a.capture_file, playback_file=a.playback_file,
                                   rate=a.rate)
        return audio.NullAudio(rate=a.rate)
    return ReopeningAudio(lambda: audio.AlsaAudio(rate=a.rate, capture_device=a.capture,
                                                  playback_device=a.playback))


def _build_sim(config: DeviceSettings, pins: PinMap) -> Devices:
    factory = MockFactory()
    matrix = KeypadMatrix(factory, pins.keypad.rows, pins.keypad.cols, pins.keypad.layout)
    keypad = MatrixKeypad(pins.keypad.rows, pins.keypad.cols, pins.keypad.layout,
                          pins.keypad.debounce_ms / 1000, _unwired, pin_factory=factory)
    sim_hook = SimHookContact(factory, pins.hook.pin, pins.hook.polarity)
    sim_hook.set_off_hook(False)  # the handset starts in its cradle
    hook = HookSwitch(pins.hook.pin, pins.hook.polarity, pins.hook.debounce_ms / 1000,
                      _unwired, pin_factory=factory)
    panel = display.SimDisplay()
    sound = _audio(config)
    devices = Devices(display=panel, audio=sound, hook=hook, keypad=keypad, ringer=None,
                      sim_hook=sim_hook, sim_keypad=matrix)
    devices.closers += [factory.close, panel.close, hook.close, keypad.close, sound.close]
    return devices


def _build_pi(config: DeviceSettings, pins: PinMap) -> Devices:
    """The real devices. The OLED opens first, so a later failure can be shown on it: the
    StartupError then carries the still-open display (deskphone.startup)."""
    devices = Devices(display=None, audio=None)
    chip = gpiod_factory.DEFAULT_CHIP
    d = pins.display
    subject = f"OLED {d.driver} on /dev/i2c-{d.i2c_bus} at 0x{d.i2c_address:02x}"
    try:
        devices.display = display.open_oled(d.driver, d.i2c_bus, d.i2c_address, d.rotate)
        # Debian's arm64 kernel exposes GPIO only as /dev/gpiochip*: our libgpiod v2 factory
        # (hw/README.md explains the choice), unless $GPIOZERO_PIN_FACTORY names another.
        subject = f"GPIO {chip}"
        factory = gpiod_factory.default_pi_factory()
        if factory is not None:
            devices.closers.append(factory.close)
        subject = f"hook switch on GPIO{pins.hook.pin} ({chip})"
        devices.hook = HookSwitch(pins.hook.pin, pins.hook.polarity,
                                  pins.hook.debounce_ms / 1000, _unwired, pin_factory=factory)
        devices.closers.append(devices.hook.close)
        lines = ",".join(str(p) for p in pins.keypad.rows + pins.keypad.cols)
        subject = f"keypad on GPIO {lines} ({chip})"
        devices.keypad = MatrixKeypad(pins.keypad.rows, pins.keypad.cols, pins.keypad.layout,
                                      pins.keypad.debounce_ms / 1000, _unwired,
                                      pin_factory=factory)
        devices.closers.append(devices.keypad.close)
        a = config.audio
        subject = f"handset audio (ALSA {a.capture!r}/{a.playback!r})"
        devices.audio = _audio(config)
        devices.closers.append(devices.audio.close)
        if pins.buzzer.enabled:
            subject = f"buzzer on GPIO{pins.buzzer.pin} ({chip})"
            devices.ringer = BuzzerRinger(pins.buzzer.pin, pin_factory=factory)
            devices.closers.append(devices.ringer.close)
    except Exception as exc:
        log.debug("%s failed", subject, exc_info=True)
        panel = devices.display
        devices.close()  # everything but the display, which is not in closers yet
        raise StartupError(explain(exc, subject=subject), display=panel) from exc
    devices.closers.insert(0, devices.display.close)  # closed last: it shows what happened
    return devices
