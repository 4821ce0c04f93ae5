"""A whole deskphone process calls SIPp (UAS) with `ctl dial sip:...`.

The scenarios are the UA core's (tests/sip/scenarios/) except the redirect to a second SIPp
(scenarios/uas_redirect_elsewhere.xml). Each test checks SIPp's exit status, statistics and wire
log and the phone's `state`: screen text, tone and timeline.
"""

from __future__ import annotations

import pytest

from tests.interop_sipp.conftest import SippBench
from tests.interop_sipp.sipp import CORE_SCENARIOS, OWN_SCENARIOS
from tests.interop_sipp.test_sipp_calls_phone import assert_never_secure
from tests.netns.capture import Capture, read_frames
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def test_phone_calls_sipp_answered_not_secure_then_phone_hangs_up(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uas_answer.xml")
    phone.ctl("hook", "off")  # lift the handset, then dial the URI
    phone.ctl("dial", sipp.uri)
    in_call = phone.wait(call="in_call")
    assert in_call["remote_media"] == f"127.0.0.1:{sipp.media_port}", bench.context(in_call)
    assert in_call["codec"] == "PCMU", bench.context(in_call)  # SIPp offers PCMU only
    warned = phone.wait(20, security="not_secure")
    context = bench.context(warned)
    assert warned["call"] == "in_call" and "NOT SECURE" in warned["screen"], context
    assert warned["tone"] == "not_secure" and warned["media"]["secure"] is False, context
    assert warned["zrtp"]["state"] == "failed" and warned["zrtp"]["retransmitted"] >= 1, context
    assert_never_secure(warned, context)
    phone.ctl("hook", "on")
    result = sipp.finish()
    context = bench.context(phone.state(), result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert result.step("ACK", "received").messages == 1, context
    assert result.step("BYE", "received").messages == 1, context
    invite = next(m for m in result.wire if m.way == "received" and m.start_line.startswith(
        "INVITE"))
    assert invite.start_line == f"INVITE {sipp.uri} SIP/2.0", context
    assert "a=zrtp-hash:1.10 " in invite.text, context  # RFC 6189 §8.1: we offered ZRTP


def test_not_secure_call_sends_no_audio_until_zrtp_gave_up(bench: SippBench) -> None:
    """What left the phone for SIPp's media port, in order: only ZRTP (our Hello and its
    retransmissions) until ZRTP gave up and the screen said NOT SECURE, then cleartext RTP, the
    unencrypted call the person was warned about (docs/architecture.md: no audio in the clear
    before ZRTP concluded)."""
    require_root()
    require_tool("dumpcap")
    require_tool("tshark")
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uas_answer.xml")
    capture = Capture(bench.root / "media.pcap", "lo",
                      capture_filter=f"udp and dst port {sipp.media_port}")
    capture.start()
    try:
        phone.ctl("hook", "off")
        phone.ctl("dial", sipp.uri)
        warned = phone.wait(20, security="not_secure", call="in_call")
        # a second of audio after the warning (50 packets of 20 ms; RTCP counts too)
        after = phone.wait(**{"media.packets_sent": ">50"})
        phone.ctl("hook", "on")
        result = sipp.finish()
    finally:
        capture.stop()
    frames = read_frames(capture.pcap)
    zrtp = [i for i, f in enumerate(frames) if f.is_zrtp]
    rtp = [i for i, f in enumerate(frames) if f.is_rtp]
    context = bench.context(warned["zrtp"], after["media"], result.summary(),
                            [(f.first_byte, f.dst_port) for f in frames[:40]])
    assert result.returncode == 0, context
    assert zrtp and len(zrtp) == warned["zrtp"]["sent"], context
    assert len(rtp) >= 25, context
    assert max(zrtp) < min(rtp), context  # not one RTP packet before ZRTP gave up
    assert after["media"]["secure"] is False, context


@pytest.mark.parametrize(("scenario", "code", "title"), [
    ("uas_busy.xml", 486, "Busy"),
    ("uas_decline.xml", 603, "Declined"),
])
def test_phone_calls_sipp_and_is_rejected(bench: SippBench, scenario: str, code: int,
                                          title: str) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / scenario)
    phone.ctl("hook", "off")  # lift the handset, then dial the URI
    phone.ctl("dial", sipp.uri)
    ended = phone.wait(call="ended")
    result = sipp.finish()
    context = bench.context(ended, result.summary())
    assert title in ended["screen"] and ended["tone"] == "busy", context
    assert "answered" not in ended["timeline"], context
    # RFC 3261 §17.1.1.3: the client transaction ACKs the non-2xx final response
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert result.count("sent", f"SIP/2.0 {code}") >= 1, context
    assert result.step("ACK", "received").messages == 1, context
    assert result.count("received", "INVITE") == 1, context  # one attempt, no retry


def test_phone_follows_302_to_a_second_sipp(bench: SippBench) -> None:
    phone = bench.phone
    moved = bench.sipp(CORE_SCENARIOS / "uas_answer.xml", service="moved")
    targets = bench.root / "redirect-targets.csv"
    targets.write_text(f"SEQUENTIAL\n{moved.uri};\n")  # SIPp injection file: field0
    first = bench.sipp(OWN_SCENARIOS / "uas_redirect_elsewhere.xml",
                       extra=("-inf", str(targets)))
    phone.ctl("hook", "off")  # lift the handset, then dial the URI
    phone.ctl("dial", first.uri)
    in_call = phone.wait(call="in_call")
    # RFC 3261 §8.1.3.4: the new INVITE went to the Contact; media is with the second SIPp
    assert in_call["remote_media"] == f"127.0.0.1:{moved.media_port}", bench.context(in_call)
    phone.ctl("hook", "on")
    first_result, moved_result = first.finish(), moved.finish()
    context = bench.context(in_call, first_result.summary(), moved_result.summary())
    assert first_result.returncode == 0 and first_result.successful_calls == 1, context
    assert first_result.count("sent", "SIP/2.0 302") >= 1, context
    assert first_result.step("ACK", "received").messages == 1, context
    assert moved_result.returncode == 0 and moved_result.successful_calls == 1, context
    invite = next(m for m in moved_result.wire if m.way == "received")
    assert invite.start_line == f"INVITE {moved.uri} SIP/2.0", context
    assert moved_result.step("BYE", "received").messages == 1, context


def test_phone_calls_sipp_slow_answer_ringback_then_in_call(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(CORE_SCENARIOS / "uas_slow_answer.xml")  # 180, 1.5 s, then 200
    phone.ctl("hook", "off")  # lift the handset, then dial the URI
    phone.ctl("dial", sipp.uri)
    alerting = phone.wait(call="calling", tone="ringback")
    assert "Ringing" in alerting["screen"], bench.context(alerting)
    in_call = phone.wait(call="in_call")
    timeline = in_call["timeline"]
    context = bench.context(alerting, in_call)
    assert in_call["tone"] != "ringback", context  # ringback stops once answered
    # SIPp held the 200 for 1.5 s after its 180: answered came after ringing, not before
    assert timeline["dialled"] <= timeline["ringing"] < timeline["answered"], context
    assert timeline["answered"] - timeline["ringing"] >= 1.0, context
    phone.ctl("hook", "on")
    result = sipp.finish()
    context = bench.context(phone.state(), result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert result.step("ACK", "received").messages == 1, context
    assert result.step("BYE", "received").messages == 1, context
