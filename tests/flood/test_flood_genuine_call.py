"""Issue 16 item 1: a genuine call gets through while strangers keep the SIP table full.

B is idle and flooded from 64 loopback sources (deskphone_tools.flood; 127.0.1.x) with junk,
truncated and oversize SIP, OPTIONS, REGISTERs, BYEs and INFOs for unknown dialogs, until the
strangers' share of its server transactions is full (sip/admission.py) and every new request
from a stranger gets a stateless answer (RFC 3261 §8.2.7). The flood's INVITEs are left out: a
stranger's INVITE admitted while B is idle would make B ring for the stranger, which is what a
phone does with a call, flood or not. A is a LAN peer in B's DNS-SD directory, so a known source:
its INVITE gets a server transaction of the known reserve, B rings, answers, and the call
becomes secure with audio both ways, all while the flood goes on and the share stays full.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deskphone.sip.config import UaConfig
from deskphone_tools.flood_call import FloodedCall

pytestmark = pytest.mark.timeout(120)

RATE, SECONDS, SOURCES = 300, 40, 64


def test_a_lan_peer_s_call_rings_and_goes_secure_through_a_flood_from_strangers(
        tmp_path: Path) -> None:
    net = FloodedCall.start(tmp_path, discovery=True)
    flood = None
    try:
        net.a.wait(30, lan_peers="~202")
        net.b.wait(30, lan_peers="~201")
        flood = net.start_flood(RATE, SECONDS, SOURCES, skip=("invite",))
        share = UaConfig.max_server_transactions
        full = net.b.wait(30, **{"sip_stats.strangers_open": f">{share - 1}"})
        assert full["sip_stats"]["stateless_answered"] > 0, full["sip_stats"]

        b = net.call(timeout=30)  # A dials B: B rings, answers; secure, audio both ways
        stats = b["sip_stats"]
        assert flood.poll() is None, "the flood ended before the call was up"
        assert stats["known_open"] >= 1, stats  # A's INVITE took the known reserve
        assert stats["strangers_open"] <= share, stats  # and strangers held only their share
        assert stats["known_queued"] > 0, stats  # A's datagrams took the known queue
        a = net.a.state()
        assert a["call"] == b["call"] == "in_call", (a, b)
        assert a["sas"] == b["sas"] and b["security"] in ("secure", "verified"), (a, b)

        out, err = flood.communicate(timeout=SECONDS + 30)
        assert flood.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["rate_achieved"] > RATE * 0.8, report  # the flood really ran throughout
        # Strangers got one stateless answer per request, nothing more (§8.2.7).
        most = report["max_responses_per_request"]
        assert all(n == 1 for method, n in most.items() if method != "INVITE"), report
        after = net.b.state()
        assert after["call"] == "in_call" and after["sas"] == b["sas"], after
    finally:
        if flood is not None and flood.poll() is None:
            flood.kill()
            flood.wait()
        net.stop()
