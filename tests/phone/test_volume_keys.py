"""Volume keys on a 4x3 keypad: 2/8 the ringer (idle, ringing), *2/*8 the earpiece in a call,
a '*' that is no volume key still reaching the far end as DTMF."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine
from deskphone.phone.screens import IdleScreen, InCallScreen, RingingScreen


def make() -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    m.start(0.0)
    return m


def in_call(m: PhoneMachine) -> None:
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    m.handle(ev.CallConnected(), 0.2)
    assert m.state is CallState.IN_CALL


def test_idle_2_and_8_step_the_ringer_and_the_level_shows() -> None:
    m = make()
    assert m.handle(ev.KeyPressed("8"), 1.0) == [ev.ChangeVolume("ringer", "down")]
    assert m.handle(ev.KeyPressed("2"), 1.1) == [ev.ChangeVolume("ringer", "up")]
    out = m.handle(ev.VolumeChanged("ringer", 7, 10), 1.2)
    assert isinstance(m.screen, IdleScreen) and m.screen.notice == "Ringer 7/10"
    assert [c for c in out if isinstance(c, ev.ShowScreen)]
    assert "Ringer 7/10" in m.snapshot()["screen"]


def test_with_the_history_open_2_and_8_move_through_it_not_the_volume() -> None:
    m = make()
    m.handle(ev.KeyPressed("#"), 1.0)  # the list opens
    out = m.handle(ev.KeyPressed("8"), 1.1)
    assert not [c for c in out if isinstance(c, ev.ChangeVolume)]


def test_ringing_2_and_8_step_the_ringer_and_d_still_answers_a_lifted_handset() -> None:
    m = make()
    m.handle(ev.CallArrived("c1", "sip:202@h", "Bob"), 1.0)
    assert m.handle(ev.KeyPressed("2"), 1.1) == [ev.ChangeVolume("ringer", "up")]
    m.handle(ev.VolumeChanged("ringer", 9, 10), 1.2)
    assert isinstance(m.screen, RingingScreen) and m.screen.notice == "Ringer 9/10"
    assert "Ringer 9/10  2+ 8-" in m.snapshot()["screen"]
    assert m.handle(ev.KeyPressed("5"), 1.3) == []  # still only ringing


def test_in_a_call_star_2_and_star_8_step_the_earpiece_without_any_dtmf() -> None:
    m = make()
    in_call(m)
    assert m.handle(ev.KeyPressed("*"), 1.0) == []  # held back: it may be a prefix
    assert m.handle(ev.KeyPressed("2"), 1.1) == [ev.ChangeVolume("earpiece", "up")]
    assert m.handle(ev.KeyPressed("*"), 1.2) == []
    assert m.handle(ev.KeyPressed("8"), 1.3) == [ev.ChangeVolume("earpiece", "down")]
    m.handle(ev.VolumeChanged("earpiece", 7, 10), 1.4)
    assert isinstance(m.screen, InCallScreen) and m.screen.notice == "Volume 7/10"
    m.handle_timer(m.get_timer() or 0.0)  # refreshes go on; after a few seconds it clears
    while m.now < 5.0:
        m.handle_timer(m.get_timer() or 0.0)
    assert isinstance(m.screen, InCallScreen) and m.screen.notice == ""


def test_a_star_that_is_no_prefix_is_sent_before_the_next_key_or_at_the_refresh() -> None:
    m = make()
    in_call(m)
    m.handle(ev.KeyPressed("*"), 1.0)
    assert m.handle(ev.KeyPressed("5"), 1.1) == [ev.SendDtmf("*"), ev.SendDtmf("5")]
    m.handle(ev.KeyPressed("*"), 2.0)
    sent: list[ev.Command] = []
    while m.now < 4.0:
        sent += m.handle_timer(m.get_timer() or 0.0)
    assert [c for c in sent if isinstance(c, ev.SendDtmf)] == [ev.SendDtmf("*")]


def test_while_the_sas_waits_star_still_says_it_does_not_match() -> None:
    m = make()
    in_call(m)
    m.handle(ev.Secured(sas="4K7Q", verified=False), 1.0)
    out = m.handle(ev.KeyPressed("*"), 1.1)
    assert ev.RejectSas() in out
