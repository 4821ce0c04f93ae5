"""Several calls at once in the phone machine (issue 15): call waiting, swap, held-call security,
the reminder ring — walked with synthetic events and a fake clock."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.hook_flash import FLASH_SECONDS
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine, Security
from deskphone.phone.screens import (
    CallWaitingScreen,
    HeldScreen,
    InCallScreen,
    MitmScreen,
    RingingScreen,
)


def of(commands: list[ev.Command], kind: type) -> list:
    return [c for c in commands if isinstance(c, kind)]


def tones(commands: list[ev.Command]) -> list[str | None]:
    return [c.tone for c in of(commands, ev.PlayTone)]


def in_call_with_bob(ring_seconds: float = 120.0) -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice",
                                     ring_seconds=ring_seconds))
    m.start(0.0)
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    m.handle(ev.CallConnected(call_id="bob"), 1.0)
    m.handle(ev.Secured("4K7Q", True, call_id="bob"), 1.5)
    return m


def carol_waits(m: PhoneMachine, now: float = 2.0) -> list[ev.Command]:
    return m.handle(ev.CallArrived("carol", "sip:carol@h", "Carol"), now)


def test_a_waiting_call_is_named_with_the_heard_call_and_its_security() -> None:
    m = in_call_with_bob()
    out = carol_waits(m)
    assert tones(out) == ["call_waiting"] and ev.Ring(True) not in out
    assert isinstance(m.screen, CallWaitingScreen)
    assert (m.screen.caller, m.screen.talking_to, m.screen.talking_security) == (
        "Carol", "202", "verified")
    assert [(c["id"], c["state"]) for c in m.calls()] == [("bob", "active"), ("carol", "waiting")]


def test_the_swap_key_answers_the_waiting_call_and_swaps_back() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    out = m.handle(ev.KeyPressed("D"), 3.0)
    assert ev.AnswerCall("carol") in out and m.call_id == "carol" and m.peer == "Carol"
    assert m.security is Security.NONE  # Carol's call has its own security, not Bob's
    m.handle(ev.Secured("ZZZZ", False, call_id="carol"), 3.5)
    held = {c["id"]: c for c in m.calls()}
    assert held["bob"]["state"] == "held" and held["bob"]["sas"] == "4K7Q"
    assert held["carol"]["sas"] == "ZZZZ" and held["carol"]["hearing"] is True
    out = m.handle(ev.SwapRequested(), 4.0)
    assert ev.SwapTo("bob") in out and m.sas == "4K7Q" and m.security is Security.VERIFIED
    assert isinstance(m.screen, InCallScreen) and m.screen.other == "Held: Carol"


def test_a_mismatch_on_the_held_call_is_flagged_now_and_alarms_when_it_comes_back() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    m.handle(ev.AnswerRequested("carol"), 3.0)
    m.handle(ev.Secured("ZZZZ", True, call_id="carol"), 3.5)
    out = m.handle(ev.PossibleMitm("4K7Q", call_id="bob"), 4.0)  # about the held call
    assert m.security is Security.VERIFIED  # Carol's call, the one heard, is untouched
    assert isinstance(m.screen, InCallScreen) and m.screen.other == "! Held: 202"
    assert "mitm" not in tones(out)
    out = m.handle(ev.SwapRequested(), 5.0)
    assert tones(out) == ["mitm"] and isinstance(m.screen, MitmScreen)


def test_the_held_call_rings_a_reminder_with_the_handset_down_and_lifting_resumes() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    m.handle(ev.AnswerRequested("carol"), 3.0)
    # Down longer than a flash: hangs up Carol; Bob is still on hold.
    assert m.handle(ev.HookOn(), 4.0) == [] and m.state is CallState.IN_CALL
    out = m.handle_timer(4.0 + FLASH_SECONDS)
    assert ev.HangUp() in out and ev.Ring(True) in out
    assert m.state is CallState.HELD and isinstance(m.screen, HeldScreen)
    out = m.handle(ev.HookOff(), 5.0)
    assert ev.SwapTo("bob") in out and ev.Ring(False) in out and m.state is CallState.IN_CALL


def test_hanging_up_while_one_waits_rings_for_it() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    m.handle(ev.HookOn(), 3.0)
    out = m.handle_timer(3.0 + FLASH_SECONDS)
    assert ev.HangUp() in out and ev.Ring(True) in out
    assert m.state is CallState.RINGING and isinstance(m.screen, RingingScreen)
    assert ev.AnswerCall("carol") in m.handle(ev.HookOff(), 4.0)


def test_a_waiting_caller_who_gives_up_leaves_the_call_as_it_was() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    out = m.handle(ev.CallFinished("cancelled", call_id="carol"), 3.0)
    assert tones(out) == [None] and m.state is CallState.IN_CALL and m.peer == "202"
    assert [c["id"] for c in m.calls()] == ["bob"]


def test_a_waiting_call_nobody_answers_is_given_up_with_480() -> None:
    m = in_call_with_bob(ring_seconds=5.0)
    carol_waits(m, now=2.0)
    out: list[ev.Command] = []
    for second in range(3, 9):
        out += m.handle_timer(float(second))
    assert of(out, ev.RejectCall) == [ev.RejectCall("carol", 480)]
    assert m.state is CallState.IN_CALL and not m.others


def test_events_about_a_call_that_is_no_longer_ours_change_nothing() -> None:
    m = in_call_with_bob()
    before = m.ignored
    assert m.handle(ev.CallFinished("remote_hangup", call_id="stranger"), 3.0) == []
    assert m.handle(ev.PossibleMitm("XXXX", call_id="stranger"), 3.0) == []
    assert m.state is CallState.IN_CALL and m.security is Security.VERIFIED
    assert m.ignored == before + 2
