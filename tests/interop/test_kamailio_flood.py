"""Issue 16 item 1 through a real Kamailio: a call from the registrar gets through a flood.

Bob is registered with Kamailio and flooded at his SIP port from 64 loopback sources (127.0.1.x;
deskphone_tools.flood: junk, truncated and oversize SIP, OPTIONS, REGISTERs, BYEs and INFOs for
unknown dialogs) until the strangers' share of his server transactions is full (sip/admission.py)
and strangers get stateless answers (RFC 3261 §8.2.7). Alice's INVITE reaches him from
Kamailio, the registrar his account REGISTERs with, a known source: it takes the known reserve,
Bob rings, answers, and the call is secure with the same SAS on both phones. (The flood's
INVITEs are left out: one admitted to an idle phone would ring it for the stranger.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deskphone.sip.config import UaConfig
from deskphone_tools.flood_call import FloodedCall
from tests.interop.kamailio import Kamailio, running_kamailio
from tests.interop.test_kamailio_calls import call, logs, registered_pair

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

RATE, SECONDS, SOURCES = 300, 30, 64


def test_a_call_through_the_registrar_rings_and_goes_secure_during_a_flood(
        tmp_path: Path) -> None:
    kamailio: Kamailio
    with running_kamailio() as kamailio, registered_pair(kamailio, tmp_path) as (alice, bob):
        net = FloodedCall(alice, bob, tmp_path)
        flood = net.start_flood(RATE, SECONDS, SOURCES, skip=("invite",))
        try:
            share = UaConfig.max_server_transactions
            bob.wait(30, **{"sip_stats.strangers_open": f">{share - 1}"})
            sa, sb = call(alice, bob)
            assert sa["sas"] == sb["sas"], logs(alice, bob)
            stats = bob.state()["sip_stats"]
            assert flood.poll() is None, "the flood ended before the call was up"
            assert stats["known_open"] >= 1 and stats["strangers_open"] <= share, stats
            assert stats["stateless_answered"] > 0, stats
            out, err = flood.communicate(timeout=SECONDS + 30)
            assert flood.returncode == 0, err.decode()
            assert json.loads(out)["rate_achieved"] > RATE * 0.8
            assert bob.state()["call"] == "in_call", logs(alice, bob)
        finally:
            if flood.poll() is None:
                flood.kill()
                flood.wait()
