"""Phones on the two-node Kamailio DMQ cluster (tests/routing/kamailio, docs/kamailio-cluster.md):
alice lists [node1, node2], bob registers on node 2 only. Kill node 1: alice fails over to node 2
(status "on backup"), re-registers and still reaches bob, and bob reaches her. Restart node 1: it
syncs the location table back, alice's probe finds it and she falls back to the primary, and the
binding she leaves on node 2 does not take her fresh one away (one shared table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess
from tests.interop.kamailio import ADDRESS, wait_until
from tests.interop.phones import account_phone
from tests.routing.test_kamailio_cluster import Node, cluster  # noqa: F401 — the fixture

pytestmark = [pytest.mark.interop, pytest.mark.timeout(100)]

PROBE_SECONDS = 2.0  # failover_probe_seconds: how often alice asks whether node 1 is back
TIMEOUT_SECONDS = 2.0  # failover_timeout_seconds: an unanswered REGISTER fails over after this
EXPIRES = 10  # alice refreshes every 5 s, so she notices a dead node within ~7 s


def allow_short_expires(node: Node) -> None:
    """The cluster config keeps Kamailio's default min_expires (60 s, granted in place of a
    shorter request); the node's rendered copy lets alice's 10 s through, so that she notices a
    dead node within seconds. The shared config in tests/routing/kamailio is left as it is."""
    common = node.runtime / "cluster-common.cfg"
    anchor = 'modparam("registrar", "max_expires", 3600)\n'
    text = common.read_text()
    assert anchor in text, f"{common}: expected the line {anchor!r}"
    if "min_expires" not in text:
        common.write_text(text.replace(anchor, anchor + 'modparam("registrar", "min_expires", 1)\n'))


def start_node(node: Node) -> None:
    allow_short_expires(node)
    node.start()


def logs(*phones: PhoneProcess) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in phones)


def secure_call(caller: PhoneProcess, callee: PhoneProcess, number: str) -> str:
    caller.ctl("hook", "off")
    caller.ctl("press", number + "#")
    callee.wait(call="ringing", timeout=10)
    callee.ctl("hook", "off")
    sa = caller.wait(security="secure|verified", call="in_call")
    sb = callee.wait(security="secure|verified", call="in_call")
    assert sa["sas"] and sa["sas"] == sb["sas"], logs(caller, callee)
    caller.ctl("hook", "on")
    callee.wait(call="ended")
    callee.ctl("hook", "on")
    caller.wait(call="idle")
    callee.wait(call="idle")
    return str(sa["sas"])


def test_failover_to_node2_and_fallback_to_node1(cluster, tmp_path: Path) -> None:  # noqa: F811
    node1, node2 = cluster
    start_node(node1)
    start_node(node2)
    wait_until(lambda: node1.peer_active() and node2.peer_active(), 20,
               "both DMQ nodes to see each other active")
    n1, n2 = f"{ADDRESS}:{node1.sip_port}", f"{ADDRESS}:{node2.sip_port}"
    alice = account_phone(tmp_path, "alice", "201", [n1, n2], expires=EXPIRES,
                          probe_seconds=PROBE_SECONDS, timeout_seconds=TIMEOUT_SECONDS)
    bob = account_phone(tmp_path, "bob", "202", [n2], expires=600)
    try:
        alice.start()
        bob.start()
        state = alice.wait(status="registered", timeout=10)
        assert state["accounts"]["office"]["registrar"] == n1
        bob.wait(status="registered", timeout=10)
        wait_until(lambda: "sip:bob@" in node1.contacts(), 10, "node 1 to learn bob over DMQ")
        secure_call(alice, bob, "202")  # node 1 finds bob, who registered on node 2

        node1.stop()  # SIGKILL: the primary vanishes
        state = alice.wait(status="on backup", timeout=EXPIRES + TIMEOUT_SECONDS + 5)
        office = state["accounts"]["office"]
        assert office["registrar"] == n2 and office["failovers"] >= 1, office
        assert "on backup" in state["screen"].lower()
        assert "sip:alice@" in node2.contacts()
        secure_call(alice, bob, "202")  # alice's INVITE now goes to node 2
        secure_call(bob, alice, "201")  # and node 2 finds alice where she is now

        start_node(node1)  # comes back empty and pulls the table from node 2 (sync=1)
        wait_until(lambda: "sip:bob@" in node1.contacts(), 20, "node 1 to sync bob back")
        state = alice.wait(status="registered", timeout=PROBE_SECONDS * 3 + 10)
        assert state["accounts"]["office"]["registrar"] == n1, state["accounts"]
        # She left a binding on node 2 and removed it with a CSeq older than her fresh REGISTER
        # on node 1: the shared table refuses that as out of order (RFC 3261 §10.3 step 7).
        node2_log = node2.runtime / "kamailio.log"
        # Whether the removal reaches node 2 before or after DMQ brings it her fresh binding is a
        # race between two nodes; either way the removal arrives, and the shared table ends with
        # her fresh binding on both (refused as out of order, or re-replicated after it).
        wait_until(lambda: "register from alice expires=0" in node2_log.read_text(
                   errors="replace"), 10, "alice's removal of the binding she left to reach node 2")
        wait_until(lambda: "sip:alice@" in node1.contacts() and "sip:alice@" in node2.contacts(),
                   10, "both nodes to hold alice's fresh binding")
        secure_call(bob, alice, "201")
    finally:
        alice.stop()
        bob.stop()
