"""Re-registration when the registration flow breaks behind a router (RFC 5626 §4.4.2).

Alice sits behind a router that gives every new mapping a random public port. Her binding
lasts an hour, so no refresh would come to the rescue during the test. The router loses her
SIP mapping (a link blip: everything from her LAN is dropped before conntrack sees it until
the mapping times out), then the link comes back: her next packet leaves through a new public
port while Kamailio's binding still names the old one, which the router no longer forwards.
Her flow check (an OPTIONS every 2 s whose answer's Via carries the mapping Kamailio saw)
notices, she registers again at once, and Bob's call rings her phone.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from deskphone_tools.natlab import NatLab, NatMode
from deskphone_tools.natlab_phones import SIP_PORT, LabRegistrar, lab_phone
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(90)]

UDP_TIMEOUT = 3
BLIP = """
table ip blip {
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
        iifname "lan" drop;
    }
}
"""


def _public_ports(entries: list[str]) -> set[int]:
    """The router's public port of each mapping of Alice's SIP flow (the reply's dport)."""
    ports = set()
    for entry in entries:
        if "sport=5071 " in entry and f"dport={SIP_PORT} " in entry:
            ports.add(int(re.findall(r"dport=(\d+)", entry)[1]))
    return ports


def _noticed(stats: dict[str, int]) -> bool:
    return stats["flow_changes"] + stats["flow_failures"] >= 1


def _poll(condition: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)  # polling a table or the phone's state, not timing the phone


def test_a_new_mapping_after_a_router_blip_registers_again(tmp_path: Path) -> None:
    require_root()
    for tool in ("ip", "nft", "kamailio"):
        require_tool(tool)
    with NatLab(modes=(NatMode.RANDOM, NatMode.PORT_PRESERVING), udp_timeout=UDP_TIMEOUT) as lab:
        registrar = LabRegistrar(lab)
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address,
                          nat="", audio="", expires=3600,
                          sip="keepalive_seconds = 1\nflow_check_seconds = 2")
        bob = lab_phone(tmp_path, lab.homes[1], "bob", "202", registrar.address,
                        nat="", audio="", sip="keepalive_seconds = 1")
        router = lab.routers[0]
        try:
            registrar.start()
            alice.start()
            bob.start()
            for phone in (alice, bob):
                phone.wait(status="registered", timeout=15)
            alice.wait(**{"sip_stats.flow_checks_sent": ">0"})
            (before,) = _public_ports(router.conntrack_entries())
            assert alice.state()["sip_stats"]["flow_changes"] == 0
            router.run("nft", "-f", "-", stdin=BLIP)
            _poll(lambda: not _public_ports(router.conntrack_entries()),
                  "the router never forgot Alice's SIP mapping", 4 * UDP_TIMEOUT)
            router.run("nft", "delete", "table", "ip", "blip")
            _poll(lambda: bool(_public_ports(router.conntrack_entries()) - {before}),
                  "Alice's traffic never made a new mapping", 4 * UDP_TIMEOUT)
            # a check answered through the new mapping (or one that went unanswered during
            # the blip) makes her register again
            _poll(lambda: _noticed(alice.state()["sip_stats"]),
                  "Alice never noticed her flow broke", 20)
            alice.wait(status="registered", timeout=15)
            bob.ctl("hook", "off")
            bob.ctl("press", "201#")
            ringing = alice.wait(call="ringing", timeout=15)
            assert "Bob" in ringing["screen"], ringing
            bob.ctl("hook", "on")
            alice.wait(call="idle|ended")
        finally:
            for phone in (alice, bob):
                phone.stop()
            registrar.close()
