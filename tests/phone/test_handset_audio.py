"""The handset's audio device vanishing and coming back, as the phone state machine shows it."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.screens import InCallScreen
from tests.phone.test_machine import make, of, outgoing_answered


def test_lost_handset_audio_is_on_the_call_screen_and_the_call_goes_on() -> None:
    m = make()
    outgoing_answered(m)
    commands = m.handle(ev.HandsetAudioChanged(lost=True), 2.0)
    (shown,) = of(commands, ev.ShowScreen)
    assert isinstance(shown.screen, InCallScreen) and shown.screen.audio_lost
    assert "Handset audio lost" in shown.screen.layout().lines()
    assert not of(commands, ev.HangUp)
    assert m.snapshot()["call"] == "in_call" and m.snapshot()["handset_audio"] == "lost"
    (shown,) = of(m.handle(ev.HandsetAudioChanged(lost=False), 3.0), ev.ShowScreen)
    assert "Handset audio lost" not in shown.screen.layout().lines()
    assert m.snapshot()["handset_audio"] == "ok"


def test_lost_handset_audio_while_idle_is_remembered_for_the_next_call() -> None:
    m = make()
    assert m.handle(ev.HandsetAudioChanged(lost=True), 1.0) == []
    outgoing_answered(m)
    assert m.snapshot()["handset_audio"] == "lost"
    assert isinstance(m.screen, InCallScreen) and m.screen.audio_lost
