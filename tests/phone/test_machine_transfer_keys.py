"""The keys of several calls on both keypads (issue 15 item 5): on a 4x4, XFER (A) during a
consultation hands the held call over (attended transfer); on a 4x3, which has no letter keys,
the hook flash and an R code do what D and A do (R2 swap, R4 transfer)."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.hook_flash import FLASH_SECONDS
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine
from deskphone.phone.screens import CallWaitingScreen, HeldScreen, InCallScreen, TransferScreen
from tests.phone.test_machine_several_calls import carol_waits, in_call_with_bob, of, tones


def consulting_carol() -> PhoneMachine:
    """Bob held, Carol (answered while waiting) in the earpiece."""
    m = in_call_with_bob()
    carol_waits(m)
    m.handle(ev.AnswerRequested("carol"), 3.0)
    assert m.call_id == "carol" and m.others.held() is not None
    return m


def flash(m: PhoneMachine, now: float) -> list[ev.Command]:
    assert m.handle(ev.HookOn(), now) == []  # not a hang-up (yet)
    return m.handle(ev.HookOff(), now + FLASH_SECONDS / 2)


def test_xfer_during_a_consultation_hands_the_held_call_over() -> None:
    m = consulting_carol()
    out = m.handle(ev.KeyPressed("A"), 4.0)
    assert of(out, ev.TransferAttended) == [ev.TransferAttended("bob")]
    assert m.state is CallState.TRANSFERRING and isinstance(m.screen, TransferScreen)
    assert m.screen.lines()[0] == "Transfer 202 to" and m.screen.digits == "Carol"
    m.handle(ev.TransferProgress(100, "Trying"), 4.1)
    assert m.screen.lines()[-1] == "100 Trying…"
    out = m.handle(ev.TransferSucceeded(call_id="bob"), 4.5)
    assert ev.HangUp() in out and "Transferred" in m.snapshot()["screen"]


def test_xfer_with_only_a_waiting_caller_is_still_a_blind_transfer() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    out = m.handle(ev.KeyPressed("A"), 3.0)
    assert not of(out, ev.TransferAttended) and m.state is CallState.TRANSFER_DIALING


def test_a_refused_attended_transfer_keeps_both_calls_and_says_why() -> None:
    m = consulting_carol()
    m.handle(ev.KeyPressed("A"), 4.0)
    out = m.handle(ev.TransferAborted("603 Declined"), 4.5)
    assert tones(out) == ["error"] and m.state is CallState.IN_CALL and m.call_id == "carol"
    assert m.screen.lines()[-1] == "Transfer failed 603"
    assert m.screen.lines()[0] == "Transfer 202 to" and m.others.held() is not None


def test_flash_then_2_answers_the_waiting_call_and_swaps() -> None:
    m = in_call_with_bob()
    carol_waits(m)
    assert tones(flash(m, 3.0)) == ["recall"]
    out = m.handle(ev.KeyPressed("2"), 3.5)
    assert ev.AnswerCall("carol") in out and not of(out, ev.SendDtmf)
    assert m.call_id == "carol" and not of(out, ev.HangUp)
    flash(m, 4.0)
    out = m.handle(ev.KeyPressed("2"), 4.5)
    assert ev.SwapTo("bob") in out and m.call_id == "bob"


def test_flash_then_4_hands_the_held_call_over() -> None:
    m = consulting_carol()
    flash(m, 4.0)
    out = m.handle(ev.KeyPressed("4"), 4.5)
    assert of(out, ev.TransferAttended) == [ev.TransferAttended("bob")]
    assert m.state is CallState.TRANSFERRING


def test_a_flash_without_a_code_goes_back_to_the_call_and_digits_are_dtmf_again() -> None:
    m = consulting_carol()
    flash(m, 4.0)
    out = m.handle_timer(m.get_timer())  # no R code came
    assert tones(out) == [None] and m.state is CallState.IN_CALL and m.call_id == "carol"
    assert of(m.handle(ev.KeyPressed("4"), 9.0), ev.SendDtmf) == [ev.SendDtmf("4")]


def test_an_unknown_r_code_is_an_error_and_sends_no_dtmf() -> None:
    m = consulting_carol()
    flash(m, 4.0)
    out = m.handle(ev.KeyPressed("9"), 4.5)
    assert tones(out) == ["error"] and not of(out, ev.SendDtmf) and m.call_id == "carol"


def test_down_longer_than_a_flash_is_a_hang_up_and_with_one_call_at_once() -> None:
    m = consulting_carol()
    m.handle(ev.HookOn(), 4.0)
    out = m.handle_timer(4.0 + FLASH_SECONDS)
    assert ev.HangUp() in out and m.state is CallState.HELD
    alone = in_call_with_bob()
    out = alone.handle(ev.HookOn(), 2.0)
    assert ev.HangUp() in out and alone.state is CallState.IDLE
    assert not isinstance(alone.screen, InCallScreen)


def test_the_hints_name_the_letter_keys_on_a_4x4_and_the_r_codes_on_a_4x3() -> None:
    m = consulting_carol()
    assert isinstance(m.screen, InCallScreen)
    assert (m.screen.swap_key, m.screen.transfer_key) == ("D", "A")
    # the conference key before the transfer key when both do not fit: A is labelled XFER
    assert m.screen.lines()[-1].endswith("D swap # conf")
    keypad_4x3 = PhoneMachine(MachineSettings(extension="201", display_name="Alice",
                                              letter_keys=False))
    keypad_4x3.start(0.0)
    keypad_4x3.handle(ev.HookOff(), 0.0)
    keypad_4x3.handle(ev.DialRequested("202"), 0.1)
    keypad_4x3.handle(ev.CallConnected(call_id="bob"), 1.0)
    carol_waits(keypad_4x3)
    assert isinstance(keypad_4x3.screen, CallWaitingScreen)
    assert keypad_4x3.screen.lines()[-1].startswith("R2 answer")
    flash(keypad_4x3, 3.0)
    keypad_4x3.handle(ev.KeyPressed("2"), 3.5)
    assert keypad_4x3.screen.lines()[-1] == "Held: 202  R2 swap # conf"  # R4 xfer: no room
    assert (keypad_4x3.screen.swap_key, keypad_4x3.screen.transfer_key) == ("R2", "R4")
    keypad_4x3.handle(ev.CallFinished("remote_hangup", call_id="carol"), 4.0)
    assert isinstance(keypad_4x3.screen, HeldScreen) and "R resume" in keypad_4x3.screen.lines()
