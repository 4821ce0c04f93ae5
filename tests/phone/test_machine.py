"""The phone state machine, walked row by row with synthetic events and a fake clock."""

from __future__ import annotations

import pytest

from deskphone.phone import events as ev
from deskphone.phone.call_quality import CallQuality
from deskphone.phone.dialing import Dialing
from deskphone.phone.forwarding import CallForwarding
from deskphone.phone.hook_flash import HookFlash
from deskphone.phone.incoming_calls import IncomingCalls
from deskphone.phone.machine import TRANSITIONS, CallState, MachineSettings, PhoneMachine, Security
from deskphone.phone.screens import (
    CallingScreen,
    DialingScreen,
    EndedScreen,
    IdleScreen,
    InCallScreen,
    MitmScreen,
    NotSecureScreen,
    OffHookScreen,
    RingingScreen,
    SasScreen,
)
from deskphone.phone.several_calls import SeveralCalls
from deskphone.phone.transfer_flow import TransferFlow
from deskphone.phone.verification import SasVerification
from deskphone.phone.volume_keys import VolumeKeys


def make(**kw: object) -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice", **kw))  # type: ignore[arg-type]
    m.start(0.0)
    return m


def of(commands: list[ev.Command], kind: type) -> list:
    return [c for c in commands if isinstance(c, kind)]


def tones(commands: list[ev.Command]) -> list[str | None]:
    return [c.tone for c in of(commands, ev.PlayTone)]


def test_idle_screen_at_start() -> None:
    m = make()
    assert m.state is CallState.IDLE
    assert isinstance(m.screen, IdleScreen)
    assert "201" in "\n".join(m.screen.lines())


def test_lift_gives_dial_tone_and_putting_down_returns_to_idle() -> None:
    m = make()
    out = m.handle(ev.HookOff(), 1.0)
    assert m.state is CallState.OFFHOOK and tones(out) == ["dial"]
    assert isinstance(m.screen, OffHookScreen)
    out = m.handle(ev.HookOn(), 2.0)
    assert m.state is CallState.IDLE and None in tones(out)


def test_digits_then_hash_dials_and_star_erases() -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    out = m.handle(ev.KeyPressed("2"), 0.1)
    assert m.state is CallState.DIALING and tones(out) == [None]  # dial tone stops at first digit
    m.handle(ev.KeyPressed("0"), 0.2)
    m.handle(ev.KeyPressed("9"), 0.3)
    m.handle(ev.KeyPressed("*"), 0.4)  # erase the 9
    assert m.digits == "20"
    assert isinstance(m.screen, DialingScreen) and m.screen.digits == "20"
    m.handle(ev.KeyPressed("2"), 0.5)
    out = m.handle(ev.KeyPressed("#"), 0.6)
    assert of(out, ev.PlaceCall) == [ev.PlaceCall("202")]
    assert m.state is CallState.CALLING and isinstance(m.screen, CallingScreen)


def test_star_erasing_every_digit_goes_back_to_dial_tone() -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.KeyPressed("5"), 0.1)
    out = m.handle(ev.KeyPressed("*"), 0.2)
    assert m.state is CallState.OFFHOOK and tones(out) == ["dial"]
    assert m.get_timer() is None


def test_interdigit_timeout_dials() -> None:
    m = make(interdigit_timeout=3.0)
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.KeyPressed("2"), 1.0)
    m.handle(ev.KeyPressed("0"), 2.0)
    assert m.get_timer() == pytest.approx(5.0)
    assert m.handle_timer(4.9) == []
    out = m.handle_timer(5.0)
    assert of(out, ev.PlaceCall) == [ev.PlaceCall("20")]


def test_dial_plan_completion_dials_without_waiting() -> None:
    m = make(is_complete=lambda d: len(d) == 3)
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.KeyPressed("2"), 0.1)
    m.handle(ev.KeyPressed("0"), 0.2)
    out = m.handle(ev.KeyPressed("2"), 0.3)
    assert of(out, ev.PlaceCall) == [ev.PlaceCall("202")]


def test_digit_limit_is_enforced() -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    for i in range(40):
        m.handle(ev.KeyPressed("1"), i * 0.1)
    assert len(m.digits) == 32


def outgoing_answered(m: PhoneMachine) -> None:
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    m.handle(ev.CallRinging(), 0.2)
    m.handle(ev.CallConnected(), 1.0)


def test_outgoing_call_ringback_then_in_call_then_remote_hangup() -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    out = m.handle(ev.CallRinging(), 0.2)
    assert tones(out) == ["ringback"] and m.screen.progress == "Ringing…"
    out = m.handle(ev.CallConnected(), 1.0)
    assert m.state is CallState.IN_CALL and tones(out) == [None]
    assert isinstance(m.screen, InCallScreen)
    assert m.screen.security == "none"  # not secure until ZRTP says so
    out = m.handle_timer(3.0)  # the duration refreshes
    assert m.screen.duration_s == 2
    out = m.handle(ev.CallFinished("remote_hangup"), 5.0)
    assert m.state is CallState.ENDED and tones(out) == ["busy"]
    assert isinstance(m.screen, EndedScreen)
    m.handle(ev.HookOn(), 6.0)
    assert m.state is CallState.IDLE


@pytest.mark.parametrize(("reason", "title", "tone"), [
    ("busy", "Busy", "busy"), ("declined", "Declined", "busy"),
    ("unreachable", "Unreachable", "reorder"), ("timeout", "No answer", "reorder"),
    ("failed", "Call failed", "reorder"),
])
def test_failed_calls_show_the_reason(reason: str, title: str, tone: str) -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    out = m.handle(ev.CallFinished(reason, 500 if reason == "failed" else None, "Server Error"), 0.5)
    assert isinstance(m.screen, EndedScreen) and m.screen.title == title
    assert tones(out) == [tone]


def test_call_placed_on_hook_returns_to_idle_after_the_ended_screen() -> None:
    m = make(ended_screen_seconds=3.0)
    m.handle(ev.DialRequested("202"), 0.0)
    out = m.handle(ev.CallFinished("busy"), 1.0)
    assert tones(out) == [None]  # nobody is listening: no busy tone in an empty handset
    assert m.get_timer() == pytest.approx(4.0)
    m.handle_timer(4.0)
    assert m.state is CallState.IDLE


def test_incoming_rings_and_lifting_answers() -> None:
    m = make()
    out = m.handle(ev.CallArrived("c1", "sip:bob@h", "Bob"), 0.0)
    assert m.state is CallState.RINGING and of(out, ev.Ring) == [ev.Ring(True)]
    assert isinstance(m.screen, RingingScreen)
    out = m.handle(ev.HookOff(), 1.0)
    assert of(out, ev.AnswerCall) == [ev.AnswerCall("c1")]
    assert of(out, ev.Ring) == [ev.Ring(False)]
    assert m.state is CallState.IN_CALL and m.peer == "Bob"


def test_caller_gives_up_while_ringing_shows_missed_call() -> None:
    m = make()
    m.handle(ev.CallArrived("c1", "sip:bob@h", "Bob"), 0.0)
    out = m.handle(ev.CallFinished("cancelled"), 1.0)
    assert m.state is CallState.IDLE and ev.Ring(False) in out
    assert "Bob" in "\n".join(m.screen.lines())


def test_second_caller_waits_with_the_call_waiting_tone() -> None:
    # (Whether a second caller may wait at all is the call layer's: it answers 486 itself when
    # call waiting is off, in DND or at the limit; tests/phone/test_machine_several_calls.py.)
    m = make()
    outgoing_answered(m)
    out = m.handle(ev.CallArrived("c2", "sip:eve@h"), 2.0)
    assert of(out, ev.RejectCall) == [] and tones(out) == ["call_waiting"]
    assert ev.Ring(True) not in out  # the earpiece, not the ringer
    assert m.state is CallState.IN_CALL and "sip:eve@h" in "\n".join(m.screen.lines())


def test_caller_hangs_up_while_calling() -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    out = m.handle(ev.HookOn(), 0.5)
    assert ev.HangUp() in out and m.state is CallState.IDLE


def test_security_securing_then_sas_then_confirmed() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.SecuringStarted(), 1.1)
    assert m.security is Security.SECURING and m.screen.security == "securing"
    m.handle(ev.Secured("7ep3", verified=False), 1.2)
    assert m.security is Security.SECURE and isinstance(m.screen, SasScreen)
    assert m.screen.sas == "7ep3"
    assert "7EP3" in "\n".join(m.screen.lines()).upper()
    out = m.handle(ev.KeyPressed("#"), 2.0)  # "it matches"
    assert ev.ConfirmSas() in out and m.security is Security.VERIFIED
    assert isinstance(m.screen, InCallScreen) and m.screen.verified
    out = m.handle(ev.KeyPressed("#"), 3.0)  # now it is DTMF
    assert of(out, ev.SendDtmf) == [ev.SendDtmf("#")]


def test_already_verified_peer_comes_up_verified() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.SecuringStarted(), 1.1)
    m.handle(ev.Secured("7ep3", verified=True), 1.2)
    assert m.security is Security.VERIFIED and isinstance(m.screen, InCallScreen)


def test_rejecting_the_sas_raises_possible_mitm() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.Secured("7ep3", verified=False), 1.2)
    out = m.handle(ev.KeyPressed("*"), 2.0)
    assert ev.RejectSas() in out and tones(out) == ["mitm"]
    assert m.security is Security.MISMATCH and isinstance(m.screen, MitmScreen)


def test_not_secure_plays_a_warning_and_never_shows_secure() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.SecuringStarted(), 1.1)
    out = m.handle(ev.CallNotSecure("peer does not support ZRTP"), 5.0)
    assert tones(out) == ["not_secure"] and isinstance(m.screen, NotSecureScreen)
    assert m.snapshot()["security"] == "not_secure"
    # no way to call it verified: there is no SAS
    assert m.handle(ev.SasConfirmed(), 6.0) == []
    assert m.security is Security.NOT_SECURE


def test_hello_hash_mismatch_is_shown_at_once_as_a_possible_attack_with_the_alarm() -> None:
    """RFC 6189 §8.1.1: a Hello that fails the signalled a=zrtp-hash is evidence of an attack."""
    m = make()
    outgoing_answered(m)
    m.handle(ev.SecuringStarted(), 1.1)
    out = m.handle(ev.CallNotSecure("possible attack: the peer's Hello does not match its SDP"
                                    " a=zrtp-hash", possible_attack=True), 1.2)
    assert tones(out) == ["mitm"]  # the alarm, not the not-secure warning
    assert isinstance(m.screen, NotSecureScreen) and m.screen.attack
    lines = m.screen.lines()
    assert lines[0] == "POSSIBLE ATTACK" and "NOT SECURE" not in lines
    assert " ".join(lines[2:]) == "Key exchange does not match the call setup"
    snapshot = m.snapshot()
    assert snapshot["security"] == "not_secure" and snapshot["possible_attack"] is True
    assert m.handle(ev.SasConfirmed(), 2.0) == []  # no SAS: never verified
    # the next call starts clean
    m.handle(ev.HookOn(), 3.0)
    assert m.snapshot()["possible_attack"] is False


def test_require_secure_refusing_an_attacked_call_says_so() -> None:
    m = make()
    outgoing_answered(m)
    out = m.handle(ev.CallFinished("attack", None, "possible attack: ..."), 1.2)
    assert isinstance(m.screen, EndedScreen) and m.screen.title == "Possible attack"
    assert m.screen.detail == "Key exchange does not match the call setup"
    assert tones(out) == ["mitm"]


def test_cache_mismatch_overrides_everything_until_the_sas_is_compared() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.SecuringStarted(), 1.1)
    out = m.handle(ev.PossibleMitm("dog:cat"), 1.2)
    assert tones(out) == ["mitm"] and isinstance(m.screen, MitmScreen)
    m.handle(ev.Secured("dog:cat", verified=True), 1.3)  # must not hide the warning
    assert m.security is Security.MISMATCH and isinstance(m.screen, MitmScreen)
    m.handle(ev.CallNotSecure("x"), 1.4)
    assert m.security is Security.MISMATCH
    m.handle(ev.SasConfirmed(), 2.0)  # compared aloud, and it matched
    assert m.security is Security.VERIFIED


def test_received_dtmf_is_shown_and_hold_toggles() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.Secured("7ep3", verified=True), 1.2)
    m.handle(ev.DtmfReceived("5"), 2.0)
    assert m.screen.dtmf == "5"
    out = m.handle(ev.HoldToggled(), 3.0)
    assert ev.SetHold(True) in out and m.screen.held
    out = m.handle(ev.HoldToggled(), 4.0)
    assert ev.SetHold(False) in out


def test_unhandled_events_are_ignored_and_counted() -> None:
    m = make()
    assert m.handle(ev.KeyPressed("5"), 0.0) == []
    assert m.handle(ev.CallConnected(), 0.0) == []
    assert m.ignored == 2 and m.state is CallState.IDLE


def test_every_table_row_names_a_real_handler() -> None:
    assert set(TRANSITIONS) == set(CallState)
    for state, rows in TRANSITIONS.items():
        for event_type, name in rows.items():
            assert issubclass(event_type, ev.Event), (state, event_type)
            part, _, method = name.rpartition(".")  # "several.swap": the machine's part's
            owner = {"": PhoneMachine, "several": SeveralCalls, "transfer_flow": TransferFlow,
                     "dialing": Dialing, "volume": VolumeKeys, "forward": CallForwarding,
                     "flash": HookFlash, "verification": SasVerification,
                     "quality": CallQuality, "incoming": IncomingCalls}[part]
            handler = getattr(owner, method if part else f"_{name}", None)
            assert callable(handler), (state, event_type, name)


def test_a_table_row_naming_no_handler_refuses_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from deskphone.phone import machine, transitions
    monkeypatch.setitem(transitions.TRANSITIONS[CallState.IDLE], ev.HookOff, "lfit")
    with pytest.raises(TypeError, match="lfit"):
        transitions.bind_handlers(machine.PhoneMachine, machine.PARTS)
    monkeypatch.setitem(transitions.TRANSITIONS[CallState.IDLE], ev.HookOff, "several.lfit")
    with pytest.raises(TypeError, match="several.lfit"):
        transitions.bind_handlers(machine.PhoneMachine, machine.PARTS)


def test_nobody_answers_the_caller_gives_up() -> None:
    m = make(no_answer_seconds=30.0)
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 1.0)
    m.handle(ev.CallRinging(), 1.1)  # ringback does not restart the clock
    assert m.get_timer() == pytest.approx(31.0)
    out = m.handle_timer(31.0)
    assert ev.HangUp() in out and tones(out) == ["reorder"]
    assert m.state is CallState.ENDED and m.screen.title == "No answer"


def test_a_phone_nobody_picks_up_stops_ringing_with_480() -> None:
    m = make(ring_seconds=60.0)
    m.handle(ev.CallArrived("c9", "sip:bob@h", "Bob"), 5.0)
    out = m.handle_timer(65.0)
    assert of(out, ev.RejectCall) == [ev.RejectCall("c9", 480)]
    assert ev.Ring(False) in out and m.state is CallState.IDLE
    assert "Bob" in "\n".join(m.screen.lines())


def test_call_quality_screen_toggles_with_the_info_key() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.Secured("7ep3", verified=True), 1.2)
    assert m.handle(ev.CallStats("PCMU", 1.5, 3.2, 0.4), 2.0) == []  # hidden: no redraw
    m.handle(ev.KeyPressed("B"), 2.5)
    assert m.screen.codec == "PCMU" and m.screen.loss_pct == 1.5
    assert "Loss" in "\n".join(m.screen.lines())
    out = m.handle(ev.CallStats("PCMU", 2.0, 3.2, 0.4), 3.0)
    assert m.screen.loss_pct == 2.0 and out
    m.handle(ev.PossibleMitm("dog:cat"), 3.5)  # a possible MITM still overrides it
    assert isinstance(m.screen, MitmScreen)
    m.handle(ev.SasConfirmed(), 4.0)
    m.handle(ev.StatsToggled(), 4.5)
    assert isinstance(m.screen, InCallScreen) and not m.snapshot()["stats_shown"]


def test_reverify_forgets_the_verification_and_shows_the_sas_again() -> None:
    m = make()
    outgoing_answered(m)
    assert m.handle(ev.KeyPressed("C"), 1.1) == []  # a function key, and nothing verified yet
    m.handle(ev.Secured("7ep3", verified=True), 1.2)
    out = m.handle(ev.KeyPressed("C"), 2.0)
    assert ev.ClearVerified() in out
    assert m.security is Security.SECURE and isinstance(m.screen, SasScreen)
    assert m.handle(ev.ReverifyRequested(), 3.0) == []  # nothing left to forget


def test_post_quantum_keys_show_the_pq_mark_on_screen_and_in_state() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.Secured("7ep3", verified=False, post_quantum=True), 1.2)
    assert isinstance(m.screen, SasScreen) and "PQ" in m.screen.lines()
    assert m.snapshot()["post_quantum"] is True
    m.handle(ev.KeyPressed("#"), 2.0)
    assert isinstance(m.screen, InCallScreen) and "Verified PQ" in m.screen.lines()


def test_no_pq_mark_without_a_post_quantum_key_agreement_or_after_a_mismatch() -> None:
    m = make()
    outgoing_answered(m)
    m.handle(ev.Secured("7ep3", verified=True), 1.2)
    assert m.snapshot()["post_quantum"] is False
    assert not any("PQ" in line for line in m.screen.lines())
    m2 = make()
    outgoing_answered(m2)
    m2.handle(ev.Secured("7ep3", verified=False, post_quantum=True), 1.2)
    m2.handle(ev.KeyPressed("*"), 2.0)  # the SAS differs: possible MITM
    assert m2.snapshot()["post_quantum"] is False
    assert not any("PQ" in line for line in m2.screen.lines())
