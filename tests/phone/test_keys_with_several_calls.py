"""Issue 17's volume keys and forwarding beside issue 15's several calls: the '*' volume prefix
next to the held call's '#' (conference) and the hook flash's R codes, the volume level and the
lost handset on the same bottom line, busy forwarding during a consultation, and what `state`
reports of all of them."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.screens import InCallScreen
from tests.phone.test_machine_several_calls import in_call_with_bob, of, tones
from tests.phone.test_machine_transfer_keys import consulting_carol, flash


def test_star_2_with_a_held_call_steps_the_earpiece_and_neither_mixes_nor_swaps() -> None:
    m = consulting_carol()
    assert m.handle(ev.KeyPressed("*"), 4.0) == []  # held back: it may be a prefix
    assert m.handle(ev.KeyPressed("2"), 4.1) == [ev.ChangeVolume("earpiece", "up")]
    assert m.call_id == "carol" and m.snapshot()["conference"] is False
    m.handle(ev.VolumeChanged("earpiece", 7, 10), 4.2)
    assert isinstance(m.screen, InCallScreen) and m.screen.lines()[-1] == "Volume 7/10  *2+ *8-"
    while m.now < 8.0:  # the level goes after a few seconds; the held call's keys come back
        m.handle_timer(m.get_timer() or 0.0)
    assert isinstance(m.screen, InCallScreen) and m.screen.lines()[-1].endswith("# conf")


def test_a_star_before_the_conference_key_is_dtmf_and_then_the_calls_are_mixed() -> None:
    m = consulting_carol()
    m.handle(ev.KeyPressed("*"), 4.0)
    out = m.handle(ev.KeyPressed("#"), 4.1)
    assert out[0] == ev.SendDtmf("*") and ev.JoinConference() in out
    assert m.snapshot()["conference"] is True


def test_after_a_hook_flash_star_is_an_r_code_not_a_volume_prefix() -> None:
    m = consulting_carol()
    flash(m, 4.0)
    out = m.handle(ev.KeyPressed("*"), 4.5)
    assert tones(out) == ["error"] and not of(out, ev.SendDtmf)
    out = m.handle(ev.KeyPressed("2"), 4.6)  # the flash is over: a digit, no volume step
    assert out == [ev.SendDtmf("2")] and m.call_id == "carol"


def test_lost_handset_audio_outranks_the_volume_level_on_the_bottom_line() -> None:
    m = in_call_with_bob()
    m.handle(ev.HandsetAudioChanged(lost=True), 2.0)
    m.handle(ev.KeyPressed("*"), 2.1)
    m.handle(ev.KeyPressed("8"), 2.2)
    m.handle(ev.VolumeChanged("earpiece", 3, 10), 2.3)
    assert isinstance(m.screen, InCallScreen) and m.screen.audio_lost
    assert m.screen.lines()[-1] == "Handset audio lost"


def test_busy_forwarding_takes_a_third_caller_during_a_consultation() -> None:
    m = consulting_carol()
    m.handle(ev.ForwardSet("busy", "205"), 4.0)
    out = m.handle(ev.CallArrived("dave", "sip:dave@h", "Dave"), 4.5)
    assert of(out, ev.ForwardCall) == [ev.ForwardCall("dave", "205")]
    assert sorted(c["id"] for c in m.calls()) == ["bob", "carol"] and m.call_id == "carol"


def test_state_reports_the_keys_of_both_features() -> None:
    m = consulting_carol()
    m.handle(ev.ForwardSet("always", "205"), 4.0)
    m.handle(ev.HandsetAudioChanged(lost=True), 4.1)
    m.handle(ev.ConferenceRequested(), 4.2)
    state = m.snapshot()
    assert state["forward"] == {"mode": "always", "target": "205", "after": 20.0}
    assert state["voicemail"] == {"waiting": False, "new": 0, "old": 0}
    assert (state["handset_audio"], state["conference"]) == ("lost", True)
    assert (state["held_calls"], state["transfer_progress"]) == (0, None)
