"""The post-quantum handshake over a path MTU smaller than its largest packet.

DPQ1's Commit is 1348 bytes of UDP payload (1376 with IPv4 and UDP headers): it fits a 1500-byte
path, but not a 1280-byte one (the IPv6 minimum, and what many VPNs give). deskphone does not
fragment ZRTP itself; the kernel fragments the UDP datagram at the IP layer (the socket's
default path-MTU mode) and the receiver reassembles it. Here two phones in namespaces joined by
a veth of MTU 1280 still agree on DPQ1 with the same SAS, and the namespaces' IP counters show
that fragments were created and reassembled. (A path that drops IP fragments would fail the
handshake: NOT SECURE, never a silent fallback, unless `[zrtp] mtu` makes the phones fragment at
the ZRTP layer, as the last test shows.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import unique_extensions
from tests.netns.netns import Namespace, NetnsPhone, VethLink, phone_config
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(90)]

MTU = 1280


def ip_counters(ns: Namespace) -> dict[str, int]:
    """The Ip: line of the namespace's /proc/net/snmp (RFC 2011 ipFragCreates etc.)."""
    lines = [line.split() for line in ns.run("cat", "/proc/net/snmp").splitlines()
             if line.startswith("Ip:")]
    names, values = lines[0][1:], lines[1][1:]
    return dict(zip(names, map(int, values), strict=True))


def test_dpq1_over_a_1280_byte_mtu_is_fragmented_by_ip_and_still_secures(
        tmp_path: Path) -> None:
    require_root()
    require_tool("ip")
    ext_a, ext_b = unique_extensions(2)
    with VethLink(mtu=MTU) as link:
        a = NetnsPhone("A", ext_a, tmp_path / "a", phone_config(ext_a, "Alice", link.a.address))
        b = NetnsPhone("B", ext_b, tmp_path / "b", phone_config(ext_b, "Bob", link.b.address))
        a.namespace, b.namespace = link.a.name, link.b.name
        try:
            a.start()
            b.start()
            a.wait(20, lan_peers=f"~{b.extension}")
            a.ctl("hook", "off")
            a.ctl("press", f"{b.extension}#")
            b.wait(call="ringing")
            b.ctl("hook", "off")
            sa = a.wait(security="secure|verified|not_secure", call="in_call")
            sb = b.wait(security="secure|verified|not_secure", call="in_call")
            context = f"{sa}\n{sb}\nA log:\n{a.log_tail()}\nB log:\n{b.log_tail()}"
            assert sa["security"] == sb["security"] == "secure", context
            assert sa["zrtp"]["key_agreement"] == sb["zrtp"]["key_agreement"] == "DPQ1", context
            assert sa["sas"] == sb["sas"] and sa["post_quantum"] and sb["post_quantum"], context
            counters = {ns.name: ip_counters(ns) for ns in (link.a, link.b)}
            # the winning Commit (1376 bytes of IP) was fragmented by its sender and reassembled
            # by the other side; DHPart1 (1248) fits; a losing Commit may add more fragments
            assert sum(c["FragCreates"] for c in counters.values()) > 0, counters
            assert sum(c["ReasmOKs"] for c in counters.values()) > 0, counters
            assert all(c["ReasmFails"] == 0 for c in counters.values()), counters
            a.ctl("hook", "on")
            b.wait(call="ended")
        finally:
            a.stop()
            b.stop()
    assert not link.left_behind()


@pytest.mark.parametrize("zrtp_mtu", [None, 1200])
def test_dpq1_over_a_path_that_drops_ip_fragments(tmp_path: Path, zrtp_mtu: int | None) -> None:
    """Both namespaces drop every IP fragment (as some firewalls do). With the default ZRTP MTU
    (1452) DPQ1's Commit never arrives: the call does not come up secure, and never quietly
    classical: both sides end NOT SECURE once the Commit retransmissions (§6) run out. With
    `[zrtp] mtu = 1200` the phones send it as ZRTP fragments (fragments.py) that the IP layer
    leaves alone, and the call comes up DPQ1 with the same SAS."""
    require_root()
    for tool in ("ip", "nft"):
        require_tool(tool)
    ext_a, ext_b = unique_extensions(2)
    with VethLink(mtu=MTU) as link:
        for ns in (link.a, link.b):
            ns.run("nft", "add table inet fragdrop")
            ns.run("nft", "add chain inet fragdrop in { type filter hook prerouting priority "
                   "-400 ; }")  # before defragmentation (priority -400)
            ns.run("nft", "add rule inet fragdrop in ip frag-off & 0x3fff != 0 counter drop")
        zrtp = f"[zrtp]\nmtu = {zrtp_mtu}\n" if zrtp_mtu else ""
        a = NetnsPhone("A", ext_a, tmp_path / "a", phone_config(ext_a, "Alice", link.a.address,
                                                                audio=zrtp))
        b = NetnsPhone("B", ext_b, tmp_path / "b", phone_config(ext_b, "Bob", link.b.address,
                                                                audio=zrtp))
        a.namespace, b.namespace = link.a.name, link.b.name
        try:
            a.start()
            b.start()
            a.wait(20, lan_peers=f"~{b.extension}")
            a.ctl("hook", "off")
            a.ctl("press", f"{b.extension}#")
            b.wait(call="ringing")
            b.ctl("hook", "off")
            sa = a.wait(40, security="secure|verified|not_secure|mismatch", call="in_call")
            sb = b.wait(40, security="secure|verified|not_secure|mismatch", call="in_call")
            context = f"{sa}\n{sb}\nA log:\n{a.log_tail()}\nB log:\n{b.log_tail()}"
            if zrtp_mtu is None:
                assert sa["security"] == sb["security"] == "not_secure", context
                assert not sa["post_quantum"] and not sb["post_quantum"], context
                dropped = link.b.run("nft", "list table inet fragdrop")
                assert "counter packets 0 " not in dropped, dropped
            else:
                assert sa["security"] == sb["security"] == "secure", context
                assert sa["zrtp"]["key_agreement"] == "DPQ1" and sa["sas"] == sb["sas"], context
                assert sa["post_quantum"] and sb["post_quantum"], context
                assert sa["zrtp"]["fragments_sent"] + sb["zrtp"]["fragments_sent"] > 0, context
                for ns in (link.a, link.b):  # nothing for the firewall to drop
                    assert "counter packets 0 " in ns.run("nft", "list table inet fragdrop")
            a.ctl("hook", "on")
            b.wait(call="ended")
        finally:
            a.stop()
            b.stop()
    assert not link.left_behind()
