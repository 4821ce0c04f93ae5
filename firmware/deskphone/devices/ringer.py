"""The ringer: a piezo buzzer on a GPIO, or the ring tone through an audio output.

The app calls `start()` / `stop()` (the phone state machine's `Ring(on)` command).

- `BuzzerRinger`: an active piezo (it has its own oscillator) switched through a transistor on
  `pins.buzzer.pin`. The cadence -- the British double ring, 0.4 s on, 0.2 off, 0.4 on, 2 off,
  the same as the audio "ring" tone -- is fed to gpiozero as a `source` of on/off steps, so
  gpiozero's own source thread times it and nothing here blocks.
- `AudioRinger`: for a phone whose ringer is a speaker; `audio_frame()` gives the next 20 ms of
  the "ring" tone while ringing (the app's audio tick plays it), else None.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from deskphone.devices.tones import TONES, ToneGenerator

STEP_S = 0.1  # cadence resolution; every burst of the ring cadence is a multiple of 100 ms


def ring_cadence_steps() -> list[bool]:
    """One ring cycle as on/off steps of STEP_S, taken from the "ring" tone's bursts."""
    steps: list[bool] = []
    for burst in TONES["ring"].bursts:
        count = round(burst.ms / 1000 / STEP_S)
        if abs(count * STEP_S * 1000 - burst.ms) > 1e-6:
            raise ValueError(f"ring burst: got {burst.ms} ms, expected a multiple of 100 ms")
        steps.extend([bool(burst.freqs_hz)] * count)
    return steps


class BuzzerRinger:
    def __init__(self, pin: int, *, pin_factory: Factory | None = None) -> None:
        self._buzzer = DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory)
        self._buzzer.source_delay = STEP_S
        self.ringing = False

    def start(self) -> None:
        if self.ringing:
            return
        self.ringing = True
        steps: Iterator[bool] = itertools.cycle(ring_cadence_steps())
        self._buzzer.source = steps

    def stop(self) -> None:
        self.ringing = False
        self._buzzer.source = None  # joins gpiozero's source thread
        self._buzzer.off()

    @property
    def buzzing(self) -> bool:
        return bool(self._buzzer.value)

    def close(self) -> None:
        self.stop()
        self._buzzer.close()


class AudioRinger:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.ringing = False
        self._tone: ToneGenerator | None = None

    def start(self) -> None:
        if not self.ringing:
            self.ringing = True
            self._tone = ToneGenerator("ring", self.rate)

    def stop(self) -> None:
        self.ringing = False
        self._tone = None

    def audio_frame(self) -> bytes | None:
        return None if self._tone is None else self._tone.next_frame()

    def close(self) -> None:
        self.stop()
