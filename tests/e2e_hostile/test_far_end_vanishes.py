"""Issue 16 item 2: the far end vanishes mid-call (crashed, unplugged, network gone).

Two real phones in a secure call; B is frozen with SIGSTOP, so it sends nothing at all — no RTP,
no RTCP, no BYE — exactly what a crashed or unplugged phone looks like from A. A must end the call
on its own after its `[media] inactivity_timeout` with "Connection lost" on the screen and send a
BYE (RFC 3261 §15): when B is let go again (SIGCONT) the BYE waiting in its socket ends the call
there too, long before B's own timeout could. A held call, whose peer sends only RTCP
(RFC 3264 §5.1), is not ended.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from deskphone_tools.flood_call import FloodedCall
from deskphone_tools.harness import PhoneError

pytestmark = pytest.mark.timeout(90)

A_TIMEOUT = 3
B_TIMEOUT = 600  # B must not end the call by itself: only A's BYE can


def test_far_end_frozen_ends_the_call_with_connection_lost_and_a_bye(tmp_path: Path) -> None:
    net = FloodedCall.start(tmp_path, extra_a=f"[media]\ninactivity_timeout = {A_TIMEOUT}\n",
                            extra_b=f"[media]\ninactivity_timeout = {B_TIMEOUT}\n")
    try:
        net.call()
        assert net.b.proc is not None
        os.kill(net.b.proc.pid, signal.SIGSTOP)
        try:
            ended = net.a.wait(A_TIMEOUT + 10, call="ended")
            assert "Connection lost" in ended["screen"], ended["screen"]
        finally:
            os.kill(net.b.proc.pid, signal.SIGCONT)
        b = net.b.wait(15, call="ended")  # A's BYE, retransmitted until B read it
        assert "Call ended" in b["screen"], b["screen"]
    finally:
        net.stop()


def test_a_held_call_lives_on_rtcp(tmp_path: Path) -> None:
    """A holds: B's answer is recvonly, B sends no RTP, only RTCP — the call stays up past A's
    timeout (RTCP's interval is about 5 s, RFC 3550 §6.2, so the timeout here is longer)."""
    timeout = 8
    net = FloodedCall.start(tmp_path, extra_a=f"[media]\ninactivity_timeout = {timeout}\n")
    try:
        net.call()
        net.a.ctl("hold")
        held = net.a.wait(10, direction="sendonly")
        rtp_before = held["media"]["packets_received"]
        with pytest.raises(PhoneError):  # nothing may end it: the wait runs out
            net.a.wait(timeout * 2, call="ended")
        state = net.a.state()
        assert state["call"] == "in_call", state
        assert state["media"]["rtcp_received"] > held["media"]["rtcp_received"], state["media"]
        assert state["media"]["packets_received"] - rtp_before < 10, state["media"]  # no RTP
    finally:
        net.stop()
