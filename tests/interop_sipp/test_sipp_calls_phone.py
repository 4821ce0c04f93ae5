"""SIPp (UAC) calls a whole deskphone process; the phone is driven only by its control socket.

The scenarios are the UA core's (tests/sip/scenarios/); here the far end is the real phone: its
state machine, screens, tones, media and ZRTP. Each test checks both sides: SIPp's exit status,
statistics and wire log, and the phone's `state`. SIPp speaks no ZRTP, so an answered call is
never shown secure and becomes NOT SECURE once ZRTP gives up (RFC 6189 §6 Hello retries).
"""

from __future__ import annotations

import itertools

import pytest

from tests.interop_sipp.conftest import SippBench
from tests.interop_sipp.sipp import CORE_SCENARIOS

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

T1 = 0.5  # RFC 3261 §17.1.1.1: the round-trip estimate, 500 ms


def assert_never_secure(state: dict, context: str) -> None:
    """The screen and state never claimed security with a peer that has no ZRTP."""
    assert "secured" not in state["timeline"], context
    assert state["security"] not in ("secure", "verified"), context
    assert not state["sas"], context
    assert "SECURE" not in state["screen"].upper().replace("NOT SECURE", ""), context


def test_sipp_calls_phone_rings_answered_by_hook_off_sipp_hangs_up(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uac_caller_hangs_up.xml", calls_phone=True)
    ringing = phone.wait(call="ringing")
    assert "Incoming call" in ringing["screen"] and "sipp" in ringing["screen"], ringing
    assert ringing["peer"] == "sipp", ringing
    phone.ctl("hook", "off")
    ended = phone.wait(call="ended")  # SIPp's BYE 200 ms after its ACK
    result = sipp.finish()
    context = bench.context(ended, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert "Call ended" in ended["screen"] and "sipp" in ended["screen"], context
    assert {"incoming", "answered", "ended"} <= set(ended["timeline"]), context
    # RFC 3261 §13.3.1.1: the phone rang (180) before it answered (200), and answered the BYE
    assert result.count("received", "SIP/2.0 180", "INVITE") >= 1, context
    assert result.count("received", "SIP/2.0 200", "INVITE") == 1, context
    assert result.count("received", "SIP/2.0 200", "BYE") == 1, context
    assert_never_secure(ended, context)
    phone.ctl("hook", "on")
    assert phone.wait(call="idle")["off_hook"] is False


def test_sipp_calls_phone_phone_hangs_up_after_not_secure(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uac_callee_hangs_up.xml", calls_phone=True)
    phone.wait(call="ringing")
    phone.ctl("hook", "off")
    in_call = phone.wait(call="in_call")
    assert in_call["security"] in ("none", "securing"), bench.context(in_call)
    # RFC 6189 §6: our Hello is retried on T1 and then given up; the person must be told
    warned = phone.wait(20, security="not_secure")
    context = bench.context(warned)
    assert warned["call"] == "in_call" and "NOT SECURE" in warned["screen"], context
    assert warned["tone"] == "not_secure", context
    assert warned["zrtp"]["state"] == "failed" and warned["zrtp"]["received"] == 0, context
    assert warned["media"]["secure"] is False, context
    assert_never_secure(warned, context)
    phone.ctl("hook", "on")
    idle = phone.wait(call="idle")
    result = sipp.finish()
    context = bench.context(idle, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert result.count("sent", "BYE") == 0, context
    assert result.step("BYE", "received").messages == 1, context  # the phone's BYE
    assert result.count("sent", "SIP/2.0 200", "BYE") >= 1, context


def test_sipp_cancels_while_ringing_phone_shows_missed_call(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uac_cancel.xml", calls_phone=True)
    # SIPp cancels as soon as it sees 180: the ringing may be over before we could look, so wait
    # for what it leaves behind (idle with the missed call) and check the timeline.
    idle = phone.wait(call="idle", screen="~Missed")
    result = sipp.finish()
    context = bench.context(idle, result.summary())
    assert "sipp" in idle["screen"] and idle["status"] == "Missed: sipp", context
    assert {"incoming", "ended"} <= set(idle["timeline"]), context
    assert "answered" not in idle["timeline"] and idle["off_hook"] is False, context
    # RFC 3261 §9.2: 200 for the CANCEL, 487 for the INVITE, then SIPp's ACK
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert result.count("received", "SIP/2.0 200", "CANCEL") == 1, context
    assert result.count("received", "SIP/2.0 487", "INVITE") >= 1, context
    assert result.count("received", "SIP/2.0 200", "INVITE") == 0, context


def test_retransmitted_invite_rings_once_and_makes_one_call(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uac_retransmitted_invite.xml", calls_phone=True)
    ringing = phone.wait(call="ringing")
    phone.ctl("hook", "off")
    ended = phone.wait(call="ended")
    result = sipp.finish()
    context = bench.context(ringing, ended, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    # RFC 3261 §17.2.1: the copy is absorbed by the server transaction: one ringing, one call
    incoming = phone.log_path.read_text().count("sip event IncomingCall")
    assert incoming == 1, context
    invite_responses = [m for m in result.wire if m.way == "received"
                        and m.cseq.endswith(" INVITE")]
    finals = [m.start_line for m in invite_responses if not m.start_line.startswith("SIP/2.0 1")]
    assert finals and set(finals) == {"SIP/2.0 200 OK"}, context  # no 486 for the copy
    # one dialog: every response that carries a To tag carries the same one
    assert len({m.to_tag for m in invite_responses if m.to_tag}) == 1, context
    assert "Call ended" in ended["screen"], context
    assert_never_secure(ended, context)


def test_lost_ack_phone_retransmits_200_and_call_ends_normally(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uac_lost_ack.xml", calls_phone=True)
    phone.wait(call="ringing")
    phone.ctl("hook", "off")
    ended = phone.wait(call="ended")  # SIPp's late ACK, then its BYE
    result = sipp.finish()
    context = bench.context(ended, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    # RFC 3261 §13.3.1.4: the 200 is retransmitted (T1, 2*T1, ...) until the ACK arrives
    assert result.count("received", "SIP/2.0 200", "INVITE") >= 2, context
    assert result.step("200", "received").retransmissions >= 1, context
    # ... starting at T1 = 500 ms and doubling (checked from below only: a loaded machine may
    # send late, never early)
    sent_at = result.times("received", "SIP/2.0 200", "INVITE")
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent_at)]
    assert all(gap >= 0.9 * T1 * 2 ** i for i, gap in enumerate(gaps)), (gaps, context)
    # and the call was a call: answered, then ended by SIPp's BYE (remote hang-up)
    assert {"answered", "ended"} <= set(ended["timeline"]), context
    assert "Call ended" in ended["screen"] and ended["tone"] == "busy", context
    assert result.count("received", "SIP/2.0 200", "BYE") == 1, context
    assert_never_secure(ended, context)
