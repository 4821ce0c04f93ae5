"""Downgrade of the post-quantum key agreement (issue 20): real phones, a hostile relay between.

Two deskphones agree on DPQ1 (X25519 + ML-KEM-768) and show "PQ" beside SECURE. An attacker who
records calls for a future quantum computer wants them keyed classically instead. Whatever it
does, the people see it: stripping DPQ1 from the Hellos breaks the handshake (a=zrtp-hash where
the SDP is intact, the Hello MAC otherwise), and a MITM that keys both legs classically gets
"secure" without the PQ mark (and different SAS). A plain relay that leaves the packets alone
carries the 1348-byte DPQ1 Commit and the call comes up PQ, so the path itself is no excuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.testnet import CLEAN, DowngradeRelay, LossyRelay, MitmRelay

from .hostile import Hostile, call_through_relay, phones_behind

pytestmark = pytest.mark.timeout(90)


def shows_pq(state: dict) -> bool:
    return state["post_quantum"] or "PQ" in state["screen"].split()


def hang_up(net: Hostile) -> None:
    net.a.ctl("hook", "on")
    net.wait(net.b, 15, call="ended")


def test_a_clean_relay_carries_dpq1_and_both_screens_show_pq(tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: LossyRelay(loop, target,
                                                                 media=CLEAN)) as net:
        sa, sb = call_through_relay(net)
        for state in (sa, sb):
            assert state["security"] == "secure", net.diagnostics()
            assert state["zrtp"]["key_agreement"] == "DPQ1"
            assert state["post_quantum"] is True and "PQ" in state["screen"].split("\n")
        assert sa["sas"] == sb["sas"]
        hang_up(net)


def test_stripping_dpq1_from_the_hellos_is_caught_by_the_sdp_zrtp_hash(tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: DowngradeRelay(
            loop, target, zrtp_hash="keep")) as net:
        sa, sb = call_through_relay(net)
        relay = net.relay.call(lambda r: r.snapshot())
        counters = next(iter(relay["calls"].values()))
        assert counters["hellos stripped from caller"] and counters["hellos stripped from callee"]
        for state in (sa, sb):
            # RFC 6189 §8.1.1: the changed Hello no longer hashes to the peer's a=zrtp-hash
            assert state["zrtp"]["dropped_hello_hash"] > 0, net.diagnostics()
            assert state["security"] == "not_secure", net.diagnostics()
            assert not shows_pq(state) and state["sas"] is None
        hang_up(net)


def test_stripping_dpq1_and_the_sdp_hash_is_caught_by_the_hello_mac(tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: DowngradeRelay(
            loop, target, zrtp_hash="strip")) as net:
        sa, sb = call_through_relay(net)
        for state in (sa, sb):
            assert state["zrtp"]["dropped_hello_hash"] == 0  # nothing to compare against
            assert state["security"] == "not_secure", net.diagnostics()
            assert not shows_pq(state) and state["sas"] is None
        # §9: the Hello MAC, keyed by H2, fails once H2 (Commit) or H1 (DHPart1) arrives
        assert sa["zrtp"]["dropped_mac"] + sb["zrtp"]["dropped_mac"] > 0, net.diagnostics()
        hang_up(net)


def test_a_mitm_keying_both_legs_classically_shows_no_pq_mark_and_different_sas(
        tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=False, key_agreements=("X255",))) as net:
        sa, sb = call_through_relay(net)
        for state in (sa, sb):
            assert state["security"] == "secure", net.diagnostics()
            assert state["zrtp"]["key_agreement"] == "X255"
            assert not shows_pq(state)
        assert sa["sas"] != sb["sas"]  # and the SAS, read aloud, gives the MITM away
        hang_up(net)
