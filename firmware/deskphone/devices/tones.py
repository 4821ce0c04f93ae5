"""Call-progress and warning tones, generated locally as 20 ms PCM frames (sans-IO).

With direct peer media nobody else plays dial tone or ringback to us, so the phone makes them.
Frequencies, cadences and levels follow the North American precise tone plan (ANSI T1.401 /
Telcordia GR-506; the same values as ITU-T E.180 Supplement 2 lists for the USA):

    dial      350+440 Hz   continuous              -13 dBm0 per component
    ringback  440+480 Hz   2 s on, 4 s off         -19 dBm0
    busy      480+620 Hz   0.5 s on, 0.5 s off     -24 dBm0
    reorder   480+620 Hz   0.25 s on, 0.25 s off   -24 dBm0

Tones of our own (distinct from all of the above so a person can tell them apart):

    ring        the local ringer through the audio output: 400+450 Hz, 0.4 on 0.2 off 0.4 on
                2 off (the British double ring; differs from ringback so ringing never sounds
                like our own outgoing call)
    not_secure  three descending beeps 1400, 1000, 700 Hz, twice, then silence
    mitm        alarm: 2000/1200 Hz alternating every 250 ms for 2 s, 1 s pause, repeating
    error       a short low double beep (400 Hz), e.g. a key that does nothing here
    call_waiting  a second caller during a call, in the earpiece: 440 Hz for 300 ms, then
                10 s of quiet (the North American call-waiting tone, Telcordia GR-506; it
                is heard over the conversation, so it is short and rare)

`ToneGenerator(name, rate).next_frame()` returns the next 20 ms as signed 16-bit little-endian
mono PCM; it never reads a clock (the caller's 20 ms tick is the clock). The waveform is phase
continuous across frames, and each burst is shaped with a 4 ms ramp so it starts and stops
without a click.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

FRAME_MS = 20
RAMP_MS = 4
# A full-scale sine in G.711 is +3.17 dBm0 (ITU-T G.711 §4): 0 dBm0 is 3.17 dB below it.
FULL_SCALE_DBM0 = 3.17
FULL_SCALE = 32767


@dataclass(frozen=True)
class Burst:
    """`ms` milliseconds of the sum of `freqs_hz` (silence when empty)."""

    freqs_hz: tuple[int, ...]
    ms: int


@dataclass(frozen=True)
class ToneSpec:
    bursts: tuple[Burst, ...]
    level_dbm0: float  # per frequency component
    repeat: bool  # False: play once, then silence


def _on_off(freqs: tuple[int, ...], on_ms: int, off_ms: int) -> tuple[Burst, ...]:
    return (Burst(freqs, on_ms), Burst((), off_ms))


_DESCENDING = (Burst((1400,), 150), Burst((), 50), Burst((1000,), 150), Burst((), 50),
               Burst((700,), 150), Burst((), 400))

TONES: dict[str, ToneSpec] = {
    "dial": ToneSpec((Burst((350, 440), 1000),), -13.0, repeat=True),
    "ringback": ToneSpec(_on_off((440, 480), 2000, 4000), -19.0, repeat=True),
    "busy": ToneSpec(_on_off((480, 620), 500, 500), -24.0, repeat=True),
    "reorder": ToneSpec(_on_off((480, 620), 250, 250), -24.0, repeat=True),
    "ring": ToneSpec((Burst((400, 450), 400), Burst((), 200), Burst((400, 450), 400),
                      Burst((), 2000)), -10.0, repeat=True),
    "not_secure": ToneSpec(_DESCENDING * 2, -13.0, repeat=False),
    "mitm": ToneSpec((*(Burst((2000,), 250), Burst((1200,), 250)) * 4, Burst((), 1000)),
                     -10.0, repeat=True),
    "call_waiting": ToneSpec(_on_off((440,), 300, 9700), -13.0, repeat=True),
    # After a hook flash: a stutter of dial tone, the next key is an R code (phone/hook_flash.py).
    "recall": ToneSpec(_on_off((350, 440), 100, 100) * 3, -13.0, repeat=False),
    "error": ToneSpec((Burst((400,), 100), Burst((), 60), Burst((400,), 100)), -13.0,
                      repeat=False),
}


@functools.lru_cache(maxsize=8)
def _sine_table(rate: int) -> tuple[float, ...]:
    """sin(2*pi*k/rate) for k in 0..rate-1: an integer f at sample n is table[f*n % rate]."""
    return tuple(math.sin(2 * math.pi * k / rate) for k in range(rate))


class ToneGenerator:
    def __init__(self, tone: str, rate: int) -> None:
        if tone not in TONES:
            raise ValueError(f"tone: got {tone!r}, expected one of {', '.join(TONES)}")
        if not (8000 <= rate <= 48000 and rate % (1000 // FRAME_MS) == 0):
            raise ValueError(
                f"tone sample rate: got {rate!r}, expected 8000-48000 Hz in steps of 50"
            )
        self.name = tone
        self.rate = rate
        self.spec = TONES[tone]
        self.samples_per_frame = rate * FRAME_MS // 1000
        self._amplitude = FULL_SCALE * 10 ** ((self.spec.level_dbm0 - FULL_SCALE_DBM0) / 20)
        self._lengths = [burst.ms * rate // 1000 for burst in self.spec.bursts]
        self._ramp = RAMP_MS * rate // 1000
        self._table = _sine_table(rate)
        self._burst = 0  # index into spec.bursts
        self._offset = 0  # samples into the current burst
        self._n = 0  # sample clock for phase, kept modulo rate (all frequencies are integers)
        self._cycles = 0  # completed passes through the cadence
        self.finished = False

    def next_frame(self) -> bytes:
        """The next 20 ms: signed 16-bit little-endian mono."""
        out = [0] * self.samples_per_frame
        i = 0
        while i < self.samples_per_frame and not self.finished:
            burst = self.spec.bursts[self._burst]
            length = self._lengths[self._burst]
            count = min(self.samples_per_frame - i, length - self._offset)
            if burst.freqs_hz:
                self._fill(out, i, count, burst, length)
            i += count
            self._n = (self._n + count) % self.rate
            self._offset += count
            if self._offset >= length:
                self._advance()
        return struct.pack(f"<{self.samples_per_frame}h", *out)

    def _fill(self, out: list[int], start: int, count: int, burst: Burst, length: int) -> None:
        table, rate, amplitude, ramp = self._table, self.rate, self._amplitude, self._ramp
        ramp_in = self._neighbour(-1) != burst.freqs_hz
        ramp_out = self._neighbour(+1) != burst.freqs_hz
        for k in range(count):
            n = self._n + k
            value = sum(table[f * n % rate] for f in burst.freqs_hz)
            pos = self._offset + k
            gain = 1.0
            if ramp_in and pos < ramp:
                gain = pos / ramp
            if ramp_out and length - 1 - pos < ramp:
                gain = min(gain, (length - 1 - pos) / ramp)
            out[start + k] = max(-FULL_SCALE, min(FULL_SCALE, round(value * amplitude * gain)))

    def _neighbour(self, step: int) -> tuple[int, ...]:
        """Frequencies of the burst before/after this one (silence at a one-shot's ends)."""
        index = self._burst + step
        count = len(self.spec.bursts)
        if not 0 <= index < count:
            if not self.spec.repeat or (index < 0 and self._cycles == 0):
                return ()
            index %= count
        return self.spec.bursts[index].freqs_hz

    def _advance(self) -> None:
        self._offset = 0
        self._burst += 1
        if self._burst == len(self.spec.bursts):
            if self.spec.repeat:
                self._burst = 0
                self._cycles += 1
            else:
                self.finished = True


class CurrentTone:
    """The tone the phone plays now, or silence: one generator at a time, replaced whenever the
    phone asks for another (its PlayTone command). Read by the app's audio tick outside calls and
    mixed in by the call's media stream during one."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.name: str | None = None
        self._generator: ToneGenerator | None = None

    def play(self, name: str | None) -> None:
        self.name = name
        self._generator = None if name is None else ToneGenerator(name, self.rate)

    @property
    def playing(self) -> bool:
        return self._generator is not None

    def next_frame(self) -> bytes | None:
        """The next 20 ms of the tone, or None when silent."""
        return None if self._generator is None else self._generator.next_frame()
