"""RFC 4028 session timers between a whole deskphone process and SIPp, both roles.

Media inactivity (`[media] inactivity_timeout`, calls/liveness.py) is off here: SIPp sends no
RTP, and it is the session timer that must end a call whose far end went silent. The session
interval is 90 s, the smallest RFC 4028 §4 allows, so the two one-minute cases run side by
side.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop_sipp.conftest import SippBench
from tests.interop_sipp.sipp import OWN_SCENARIOS, Sipp
from tests.support import require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

INTERVAL = 90  # the Session-Expires both scenarios ask for


@contextlib.contextmanager
def sipp_bench(root: Path) -> Iterator[SippBench]:
    require_tool("sipp")
    setup = SippBench(root, extra_config="\n[media]\ninactivity_timeout = 0\n")
    try:
        setup.start_phone()
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[SippBench]:
    with sipp_bench(tmp_path) as setup:
        yield setup


def test_session_timers_against_sipp_in_both_roles(tmp_path: Path) -> None:
    """Both one-minute cases side by side, each with its own phone and SIPp: the session
    interval cannot be shorter than 90 s (RFC 4028 §4), and the suite should wait it once."""
    with sipp_bench(tmp_path / "callee-silent") as silent, \
            sipp_bench(tmp_path / "caller-requires") as requiring:
        # a SIPp UAS that answers a short session and then says nothing more
        uas = silent.sipp(OWN_SCENARIOS / "uas_short_session_then_silent.xml", timeout_s=180)
        silent.phone.ctl("hook", "off")
        silent.phone.ctl("dial", uas.uri)
        silent.phone.wait(call="in_call")
        # a SIPp UAC that requires timers and makes us (the UAS) the refresher
        uac = requiring.sipp(OWN_SCENARIOS / "uac_requires_timer_uas_refreshes.xml",
                             calls_phone=True, timeout_s=180)
        requiring.phone.wait(call="ringing")
        requiring.phone.ctl("hook", "off")
        uac_requiring_us_as_refresher_gets_our_refresh_reinvite(requiring, uac)
        uas_that_goes_silent_gets_our_bye_within_the_session_interval(silent, uas)


def uas_that_goes_silent_gets_our_bye_within_the_session_interval(
        bench: SippBench, sipp: Sipp) -> None:
    phone = bench.phone
    ended = phone.wait(INTERVAL + 30, call="ended")
    result = sipp.finish(timeout=30)
    context = bench.context(ended, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    assert "Connection lost" in ended["screen"], context
    invite = next(m for m in result.wire if m.way == "received"
                  and m.start_line.startswith("INVITE"))
    assert "Session-Expires: 1800" in invite.text and "timer" in invite.text, context
    # The far end's last word was its 200; nothing refreshed the session after it. RFC 4028
    # §10: the BYE goes out before the interval ends, not before the refresh was due.
    answered = result.times("sent", "SIP/2.0 200", "INVITE")[0]
    bye = result.times("received", "BYE")[0]
    print(f"far end silent after its 200 -> our BYE: {bye - answered:.1f} s "
          f"(Session-Expires {INTERVAL})")
    assert INTERVAL / 2 < bye - answered < INTERVAL, context
    assert result.count("received", "INVITE") == 1, context  # not the refresher: no re-INVITE
    phone.ctl("hook", "on")
    idle = phone.wait(15, call="idle")
    assert "Connection lost" not in idle["screen"] and "sipp" not in idle["screen"], idle


def uac_requiring_us_as_refresher_gets_our_refresh_reinvite(bench: SippBench, sipp: Sipp) -> None:
    phone = bench.phone
    ended = phone.wait(INTERVAL + 30, call="ended")  # SIPp's BYE after our refresh
    result = sipp.finish(timeout=30)
    context = bench.context(ended, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    ok = next(m for m in result.wire if m.way == "received"
              and m.start_line.startswith("SIP/2.0 200") and m.cseq == "1 INVITE")
    assert f"Session-Expires: {INTERVAL};refresher=uas" in ok.text, context
    assert "Require: timer" in ok.text, context
    refresh = next(m for m in result.wire if m.way == "received"
                   and m.start_line.startswith("INVITE"))
    # RFC 4028 §7.4: the refresher sends refresher=uac in its own re-INVITE (it is its UAC)
    assert f"Session-Expires: {INTERVAL};refresher=uac" in refresh.text, context
    assert "a=zrtp-hash" in refresh.text or "m=audio" in refresh.text, context  # the same offer
    answered = result.times("received", "SIP/2.0 200", "INVITE")[0]
    refreshed = result.times("received", "INVITE")[0]
    print(f"our 200 -> our refresh re-INVITE: {refreshed - answered:.1f} s "
          f"(Session-Expires {INTERVAL})")
    assert INTERVAL / 3 < refreshed - answered < INTERVAL * 2 / 3, context  # §10: at half
    assert "Call ended" in ended["screen"] and "Connection lost" not in ended["screen"], context
    phone.ctl("hook", "on")


def test_sipp_uas_answering_422_gets_the_invite_again_with_its_min_se(bench: SippBench) -> None:
    phone = bench.phone
    sipp = bench.sipp(OWN_SCENARIOS / "uas_422_then_answer.xml")
    phone.ctl("hook", "off")
    phone.ctl("dial", sipp.uri)
    in_call = phone.wait(call="in_call")
    phone.ctl("hook", "on")
    result = sipp.finish()
    context = bench.context(in_call, result.summary())
    assert result.returncode == 0 and result.successful_calls == 1, context
    first, retry = [m for m in result.wire if m.way == "received"
                    and m.start_line.startswith("INVITE")]
    assert "Session-Expires: 1800" in first.text and "Min-SE: 90" in first.text, context
    # RFC 4028 §7.4: the same call (Call-ID), the next CSeq, the interval the 422 asked for
    assert first.cseq == "1 INVITE" and retry.cseq == "2 INVITE", context
    assert "Session-Expires: 1900" in retry.text and "Min-SE: 1900" in retry.text, context
