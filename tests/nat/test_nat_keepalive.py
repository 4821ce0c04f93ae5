"""The registration flow through a home router with short UDP timeouts (RFC 5626 §4.4).

Both routers forget an idle UDP mapping after 3 s; registrations last 60 s, so between two
REGISTERs only keep-alives hold a mapping open. Alice sends a CRLF keep-alive every second
(`[sip] keepalive_seconds = 1`), Bob none (0): Bob's router forgets his SIP flow, Alice's keeps
hers for several timeouts in a row, and a call from Bob still reaches Alice's idle phone through
it: the INVITE from Kamailio comes in on the mapping her REGISTER opened.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deskphone_tools.natlab import NatLab
from deskphone_tools.natlab_phones import SIP_PORT, LabRegistrar, lab_phone
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]

UDP_TIMEOUT = 3


def _sip_flow(entries: list[str]) -> bool:
    return any("sport=5071 " in entry and f"dport={SIP_PORT} " in entry for entry in entries)


def test_keepalives_hold_the_mapping_and_an_idle_phone_still_gets_calls(tmp_path: Path) -> None:
    require_root()
    for tool in ("ip", "nft", "kamailio"):
        require_tool(tool)
    with NatLab(udp_timeout=UDP_TIMEOUT) as lab:
        registrar = LabRegistrar(lab)
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address,
                          nat="", audio="", sip="keepalive_seconds = 1")
        bob = lab_phone(tmp_path, lab.homes[1], "bob", "202", registrar.address,
                        nat="", audio="", sip="keepalive_seconds = 0")
        try:
            registrar.start()
            alice.start()
            bob.start()
            for phone in (alice, bob):
                phone.wait(status="registered", timeout=15)
            # Bob's router forgets his idle flow (polling its table; no fixed wait)
            deadline = time.monotonic() + 4 * UDP_TIMEOUT
            while _sip_flow(lab.routers[1].conntrack_entries()):
                assert time.monotonic() < deadline, "router 2 never forgot Bob's SIP flow"
                time.sleep(0.2)  # polling the router's table, not timing the phone
            # ... while Alice's keep-alives outlast several of her router's timeouts
            state = alice.wait(**{"sip_stats.keepalives_sent": f">{2 * UDP_TIMEOUT}"})
            assert state["sip_stats"]["keepalives_sent"] > 2 * UDP_TIMEOUT
            assert _sip_flow(lab.routers[0].conntrack_entries()), "Alice's mapping was lost"
            assert bob.state()["sip_stats"]["keepalives_sent"] == 0
            bob.ctl("hook", "off")
            bob.ctl("press", "201#")
            ringing = alice.wait(call="ringing")
            assert "Bob" in ringing["screen"], ringing
            bob.ctl("hook", "on")
            alice.wait(call="idle|ended")
        finally:
            for phone in (alice, bob):
                phone.stop()
            registrar.close()
