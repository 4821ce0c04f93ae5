"""The 3-way conference in the phone machine (issue 15 item 4): the '#' key with a call on
hold mixes both, each leg keeps its security, a leg that drops leaves a two-party call, and
hanging up ends both or joins them by attended transfer ([phone] conference_hangup)."""

from __future__ import annotations

import pytest

from deskphone.config import ConfigError, config_from_dict
from deskphone.phone import events as ev
from deskphone.phone.hook_flash import FLASH_SECONDS
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine
from deskphone.phone.screens import ConferenceLeg, ConferenceScreen, InCallScreen, MitmScreen


def of(commands: list[ev.Command], kind: type) -> list:
    return [c for c in commands if isinstance(c, kind)]


def bob_held_carol_heard(hangup: str = "end") -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice",
                                     conference_hangup=hangup))
    m.start(0.0)
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    m.handle(ev.CallConnected(call_id="bob"), 1.0)
    m.handle(ev.Secured("4K7Q", True, call_id="bob"), 1.5)
    m.handle(ev.CallArrived("carol", "sip:carol@h", "Carol"), 2.0)
    m.handle(ev.AnswerRequested("carol"), 3.0)
    m.handle(ev.Secured("ZP2X", False, call_id="carol"), 3.5)
    m.handle(ev.SasConfirmed(), 3.6)
    return m


def test_the_conference_key_mixes_the_held_call_in_and_lists_both_legs() -> None:
    m = bob_held_carol_heard()
    out = m.handle(ev.KeyPressed("#"), 4.0)
    assert ev.JoinConference() in out
    assert isinstance(m.screen, ConferenceScreen)
    assert m.screen.legs == (ConferenceLeg("Carol", "verified", "ZP2X", True),
                             ConferenceLeg("202", "verified", "4K7Q", True))
    assert "not to each other" in "\n".join(m.screen.lines())
    listed = {c["id"]: c for c in m.calls()}
    assert listed["bob"]["state"] == "conference" and listed["bob"]["hearing"] is True
    assert listed["carol"]["state"] == "active" and m.snapshot()["conference"] is True
    # no second conference while one runs, and no hold of one leg (it would hear the other)
    assert m.handle(ev.ConferenceRequested(), 4.1) == []
    assert m.handle(ev.HoldToggled(), 4.2) == [] and m.held is False


def test_the_held_legs_alarm_shows_on_the_conference_screen() -> None:
    m = bob_held_carol_heard()
    m.handle(ev.ConferenceRequested(), 4.0)
    m.handle(ev.PossibleMitm("4K7Q", call_id="bob"), 5.0)
    assert isinstance(m.screen, ConferenceScreen)
    assert m.screen.legs[1].security == "mismatch"


def test_the_other_leg_drops_and_a_two_party_call_is_left() -> None:
    m = bob_held_carol_heard()
    m.handle(ev.ConferenceRequested(), 4.0)
    m.handle(ev.CallFinished("remote_hangup", call_id="bob"), 5.0)
    assert m.state is CallState.IN_CALL and m.call_id == "carol"
    assert isinstance(m.screen, InCallScreen) and m.screen.other == ""
    assert [c["id"] for c in m.calls()] == ["carol"]


def test_the_heard_leg_drops_and_the_other_is_heard_alone() -> None:
    m = bob_held_carol_heard()
    m.handle(ev.ConferenceRequested(), 4.0)
    out = m.handle(ev.CallFinished("remote_hangup", call_id="carol"), 5.0)
    assert m.state is CallState.IN_CALL and m.call_id == "bob" and m.sas == "4K7Q"
    assert not of(out, ev.SwapTo)  # the call layer made it current itself
    assert [c["id"] for c in m.calls()] == ["bob"]
    # each leg is noted in the history on its own
    assert [r.peer for r in of(out, ev.RecordCall)] == ["sip:carol@h"]


def hang_up(m: PhoneMachine, now: float) -> list[ev.Command]:
    """The handset down for longer than a hook flash: with two calls, down is not yet a hang-up
    (it could be the flash R; phone/hook_flash.py), the window closing is."""
    assert m.handle(ev.HookOn(), now) == []
    return m.handle_timer(now + FLASH_SECONDS)


def test_hanging_up_ends_both_legs() -> None:
    m = bob_held_carol_heard()
    m.handle(ev.ConferenceRequested(), 4.0)
    out = hang_up(m, 6.0)
    assert ev.HangUp() in out and m.state is CallState.IDLE and m.calls() == []
    assert {r.peer for r in of(out, ev.RecordCall)} == {"202", "sip:carol@h"}


def test_hanging_up_can_join_the_two_others_by_attended_transfer() -> None:
    m = bob_held_carol_heard(hangup="join")
    m.handle(ev.ConferenceRequested(), 4.0)
    out = hang_up(m, 6.0)
    assert ev.TransferAttended("bob") in out and ev.HangUp() not in out
    assert m.state is CallState.TRANSFERRING
    out = m.handle(ev.TransferSucceeded(call_id="bob"), 7.0)
    assert ev.HangUp() in out and m.state is CallState.ENDED


def test_a_mismatch_on_the_heard_leg_still_takes_the_whole_screen() -> None:
    m = bob_held_carol_heard()
    m.handle(ev.ConferenceRequested(), 4.0)
    m.handle(ev.PossibleMitm("ZP2X", call_id="carol"), 5.0)
    assert isinstance(m.screen, MitmScreen)


def test_conference_hangup_is_validated_with_the_key_named() -> None:
    assert config_from_dict({}).phone.conference_hangup == "end"
    assert config_from_dict({"phone": {"conference_hangup": "join"}}).phone.conference_hangup == (
        "join")
    with pytest.raises(ConfigError, match="phone.conference_hangup"):
        config_from_dict({"phone": {"conference_hangup": "transfer"}})
    with pytest.raises(ConfigError, match="phone.conference_hangup"):
        config_from_dict({"phone": {"conference_hangup": 1}})


def test_flash_then_3_mixes_the_held_call_in_as_the_conference_key_does() -> None:
    m = bob_held_carol_heard()
    assert m.handle(ev.HookOn(), 4.0) == []
    m.handle(ev.HookOff(), 4.0 + FLASH_SECONDS / 2)  # R
    out = m.handle(ev.KeyPressed("3"), 4.5)
    assert ev.JoinConference() in out and not of(out, ev.SendDtmf)
    assert isinstance(m.screen, ConferenceScreen)
