from __future__ import annotations

import threading

from deskphone.devices.ringer import AudioRinger, BuzzerRinger, ring_cadence_steps
from deskphone.devices.tones import ToneGenerator

PIN = 18


def test_cadence_is_the_double_ring():
    steps = ring_cadence_steps()
    assert steps == [True] * 4 + [False] * 2 + [True] * 4 + [False] * 20


def wait_for_pin(pin, state: bool, timeout: float = 2.0) -> bool:
    """Wait on the mock pin's state changes (gpiozero's source thread drives it)."""
    changed = threading.Event()
    original = pin._change_state

    def spy(value):
        result = original(value)
        if bool(value) == state:
            changed.set()
        return result

    pin._change_state = spy
    try:
        return bool(pin.state) == state or changed.wait(timeout)
    finally:
        pin._change_state = original


def test_buzzer_rings_and_stops(mock_factory):
    pin = mock_factory.pin(PIN)
    ringer = BuzzerRinger(PIN, pin_factory=mock_factory)
    assert not ringer.ringing and pin.state is False
    ringer.start()
    assert ringer.ringing
    assert wait_for_pin(pin, True)
    ringer.start()  # idempotent
    ringer.stop()
    assert not ringer.ringing and pin.state is False and not ringer.buzzing
    ringer.close()


def test_audio_ringer_plays_the_ring_tone_only_while_ringing():
    ringer = AudioRinger(8000)
    assert ringer.audio_frame() is None
    ringer.start()
    reference = ToneGenerator("ring", 8000)
    assert [ringer.audio_frame() for _ in range(5)] == [reference.next_frame() for _ in range(5)]
    ringer.stop()
    assert ringer.audio_frame() is None
