"""Issue 16 item 1: a secure call between two real phones while one of them is flooded.

B is flooded from 64 loopback source addresses (each well under the per-source rate limit) with
junk, truncated and oversize SIP, OPTIONS, REGISTERs, INVITEs with fresh Call-IDs and BYEs/INFOs
for unknown dialogs at its SIP port, and random datagrams, forged RTP and forged SRTP at its media
port (deskphone_tools.flood, a separate process). Throughout, the call must stay up and secure
with the same SAS, every 20 ms frame of B's earpiece must carry A's tone, B's control socket must
answer, what strangers hold open in B's SIP stack must stay capped, and B must send strangers no
more than the RFC requires. The rate here is moderate and the run short; `make bench` (section
flood) finds the highest rate held and prints times, CPU and memory at 500/s and 2,000/s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone.sip.config import UaConfig
from deskphone_tools.flood import invite_response_bound
from deskphone_tools.flood_call import FloodedCall

pytestmark = pytest.mark.timeout(90)

RATE, SECONDS, SOURCES = 300, 8, 64


def test_secure_call_survives_a_flood_from_64_sources(tmp_path: Path) -> None:
    net = FloodedCall.start(tmp_path)
    try:
        before = net.call()
        result = net.flood(RATE, SECONDS, SOURCES)
        diagnostics = f"{result}\n--- B log ---\n{net.b.log_tail()}"
        flood = result["flood"]
        assert flood["rate_achieved"] > RATE * 0.8, diagnostics  # the flood really ran

        # The call is up, secure, with the SAS it had, on both phones.
        for side in (result["a_after"], result["b_after"]):
            assert side == {"call": "in_call", "security": before["security"],
                            "sas": before["sas"]}, diagnostics
        # B's earpiece: A's tone in every frame played while the flood ran.
        assert result["b_ear_frames"] >= SECONDS * 50 * 0.9, diagnostics
        assert result["b_ear_gap_frames"] == 0, diagnostics
        # The media port took the forgeries and counted them, the call's own SSRC untouched.
        assert result["b_dropped_foreign"] + result["b_malformed"] > 0, diagnostics

        # The control socket answered all along.
        assert result["control_failures"] == [], diagnostics
        assert result["control_replies"] >= SECONDS, diagnostics

        # Capped: strangers' server transactions (and the calls their INVITEs create).
        cap = UaConfig.max_server_transactions
        assert result["peak_open"]["open_transactions"] <= cap, diagnostics
        assert result["peak_open"]["open_calls"] <= cap, diagnostics
        assert result["sip_stats_after"]["stateless_answered"] > 0, diagnostics

        # No reflection beyond the RFC: nothing from the media port, one response per
        # non-INVITE request, an INVITE's 100 and final with Timer G's retransmissions at most.
        assert flood["responses_to_media"] == 0, diagnostics
        most = flood["max_responses_per_request"]
        assert all(n == 1 for method, n in most.items() if method != "INVITE"), diagnostics
        assert most.get("INVITE", 0) <= invite_response_bound(), diagnostics
        assert flood["responses_total"] <= flood["sent_total"] * 1.2, diagnostics

        # And the call still ends properly afterwards. With call waiting on (the default) one
        # flood INVITE may be B's waiting call (the rest got 486/503: capped, never unbounded),
        # and then B rings for it once A's call is over, as a desk phone does.
        waiting = [c for c in result["b_calls_after"] if c.get("state") == "waiting"]
        assert len(waiting) <= 1, diagnostics
        net.a.ctl("hook", "on")
        b_state = net.b.wait(15, call="ringing" if waiting else "ended")
        assert not any(c.get("state") in ("active", "on_hold") for c in b_state["calls"]), b_state
    finally:
        net.stop()
