"""Several calls at once (issue 15) with the everyday features (history, DND, mute, the D key):
one do not disturb, each call of several in the history with its own security, mute on the call
heard, and D = swap / answer-waiting only when a second call exists, else mute."""

from __future__ import annotations

from deskphone.config import config_from_dict
from deskphone.phone import events as ev
from deskphone.phone.hook_flash import FLASH_SECONDS
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine


def records(commands: list[ev.Command]) -> list[tuple[str, str, str]]:
    return [(c.direction, c.peer, c.security) for c in commands if isinstance(c, ev.RecordCall)]


def in_call_with_bob(**settings: object) -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice", **settings))  # type: ignore[arg-type]
    m.start(0.0)
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    m.handle(ev.CallConnected(call_id="bob"), 1.0)
    m.handle(ev.Secured("4K7Q", True, call_id="bob"), 1.5)
    return m


def test_phone_dnd_config_is_the_start_value_of_the_one_dnd_and_ctl_turns_it_off() -> None:
    config = config_from_dict({"phone": {"dnd": True, "dnd_code": 603}})
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice",
                                     dnd=config.phone.dnd, dnd_code=config.phone.dnd_code))
    m.start(0.0)
    assert m.snapshot()["dnd"] is True and m.snapshot()["screen"].startswith("DND")
    out = m.handle(ev.CallArrived("c1", "sip:202@h", "Bob"), 1.0)
    assert ev.RejectCall("c1", 603) in out and records(out) == [("missed", "sip:202@h", "none")]
    m.handle(ev.DndSet(False), 2.0)
    m.handle(ev.CallArrived("c2", "sip:202@h", "Bob"), 3.0)
    assert m.state is CallState.RINGING


def test_dnd_during_a_call_turns_a_second_caller_away_with_dnd_code_as_missed() -> None:
    m = in_call_with_bob(dnd_code=480)
    m.handle(ev.DndSet(True), 1.8)
    out = m.handle(ev.CallArrived("carol", "sip:carol@h", "Carol"), 2.0)
    assert ev.RejectCall("carol", 480) in out
    assert records(out) == [("missed", "sip:carol@h", "none")]
    assert not m.others and m.call_id == "bob"


def test_each_call_of_several_is_recorded_with_its_own_security() -> None:
    m = in_call_with_bob()
    m.handle(ev.CallArrived("carol", "sip:carol@h", "Carol"), 2.0)
    assert records(m.handle(ev.KeyPressed("D"), 3.0)) == []  # answered: Bob held, not ended
    m.handle(ev.CallNotSecure("hello timeout", call_id="carol"), 3.5)
    out = m.handle(ev.CallFinished("remote_hangup", call_id="bob"), 4.0)  # held Bob leaves
    assert records(out) == [("outgoing", "202", "verified")]
    out = m.handle(ev.HookOn(), 5.0)
    assert records(out) == [("incoming", "sip:carol@h", "not_secure")]


def test_a_swapped_call_keeps_its_entry_and_a_waiting_caller_who_gives_up_is_missed() -> None:
    m = in_call_with_bob()
    m.handle(ev.CallArrived("carol", "sip:carol@h", "Carol"), 2.0)
    m.handle(ev.AnswerRequested("carol"), 3.0)
    m.handle(ev.Secured("ZZZZ", False, call_id="carol"), 3.5)
    m.handle(ev.SwapRequested(), 4.0)  # back to Bob; Carol held
    m.handle(ev.CallArrived("dave", "sip:dave@h", "Dave"), 4.5)
    out = m.handle(ev.CallFinished("remote_hangup", call_id="dave"), 5.0)
    assert records(out) == [("missed", "sip:dave@h", "none")]
    m.handle(ev.HookOn(), 6.0)  # down longer than a flash: Bob ends; Carol stays held
    out = m.handle_timer(6.0 + FLASH_SECONDS)
    assert records(out) == [("outgoing", "202", "verified")] and m.state is CallState.HELD
    m.handle(ev.HookOff(), 7.0)  # resumes Carol
    out = m.handle(ev.HookOn(), 8.0)
    assert records(out) == [("incoming", "sip:carol@h", "secure")]


def test_d_mutes_with_one_call_and_swaps_with_two() -> None:
    m = in_call_with_bob()
    out = m.handle(ev.KeyPressed("D"), 2.0)
    assert ev.SetMute(True) in out and "MUTED" in m.snapshot()["screen"]
    m.handle(ev.CallArrived("carol", "sip:carol@h", "Carol"), 2.5)
    out = m.handle(ev.KeyPressed("D"), 3.0)  # a second call exists: D answers it
    assert ev.AnswerCall("carol") in out and m.call_id == "carol"
    # The microphone is the handset's: mute was Bob's call's and ends as Carol is heard.
    assert ev.SetMute(False) in out and m.muted is False
    assert "D swap" in m.snapshot()["screen"]
    out = m.handle(ev.KeyPressed("D"), 4.0)
    assert ev.SwapTo("bob") in out and m.call_id == "bob"
