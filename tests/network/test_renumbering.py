"""A phone whose interface goes down, comes back with another address, and works again without a
restart (issue 16 item 3).

Phone A listens on its interface by name (`[sip] listen = "udp:<veth>:5071"`), phone B on its
address; both in their own network namespace, joined by a veth pair (tests/netns). A's link goes
down, its address is replaced, the link comes up: A follows (netlink, no polling), re-binds its
SIP socket on the new address, announces itself there over DNS-SD, and B calls A by extension
again, securely, with media to the new address.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskphone_tools.harness import unique_extensions
from tests.interop.kamailio import wait_until
from tests.netns.netns import NetnsPhone, VethLink, ip, phone_config
from tests.network.wakeups import main_thread_switches
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]


def interface_phone_config(extension: str, name: str, device: str) -> str:
    """A LAN phone that names its interface instead of an address: it follows renumbering."""
    return f"""
[identity]
user = "ext{extension}"
extension = "{extension}"
display_name = "{name}"

[sip]
listen = "udp:{device}:5071"

[discovery]
interface = "{device}"

[devices]
mode = "sim"
"""


def unplug(link: VethLink) -> None:
    """A's link down and its address gone (the cable pulled, the lease lost)."""
    ip("-n", link.a.name, "link", "set", link.a.device, "down")
    ip("-n", link.a.name, "addr", "flush", "dev", link.a.device)


def plug_in(link: VethLink, address: str) -> None:
    """A's link up again with `address` (another network, a new lease)."""
    ip("-n", link.a.name, "addr", "add", f"{address}/24", "dev", link.a.device)
    ip("-n", link.a.name, "link", "set", link.a.device, "up")


def renumber(link: VethLink, new_address: str) -> None:
    """A's link down, its address replaced, the link up again (a cable moved, a new lease)."""
    unplug(link)
    plug_in(link, new_address)


@pytest.fixture
def lan_pair(tmp_path: Path) -> Iterator[tuple[VethLink, NetnsPhone, NetnsPhone]]:
    require_root()
    require_tool("ip")
    ext_a, ext_b = unique_extensions(2)
    with VethLink() as link:
        a = NetnsPhone("A", ext_a, tmp_path / "a",
                       interface_phone_config(ext_a, "Alice", link.a.device))
        b = NetnsPhone("B", ext_b, tmp_path / "b", phone_config(ext_b, "Bob", link.b.address))
        a.namespace, b.namespace = link.a.name, link.b.name
        try:
            a.start()
            b.start()
            yield link, a, b
        finally:
            for phone in (a, b):
                phone.stop()


def call_and_hang_up(caller: NetnsPhone, callee: NetnsPhone, callee_address: str) -> None:
    caller.ctl("hook", "off")
    caller.ctl("press", f"{callee.extension}#")
    callee.wait(30, call="ringing")
    callee.ctl("hook", "off")
    state = caller.wait(30, call="in_call", security="secure|verified")
    assert state["remote_media"].startswith(f"{callee_address}:"), state
    callee.wait(20, **{"media.packets_received": ">25"})
    caller.ctl("hook", "on")
    callee.wait(20, call="ended")
    callee.ctl("hook", "on")
    for phone in (caller, callee):
        phone.wait(20, call="idle")


def test_lan_phone_renumbered_is_called_again_by_extension(
        lan_pair: tuple[VethLink, NetnsPhone, NetnsPhone]) -> None:
    link, a, b = lan_pair
    old, new = link.a.address, f"10.77.{link.subnet}.3"
    assert a.state()["sip"] == f"udp:{old}:5071"
    b.wait(30, lan_peers=f"~{a.extension}")
    a.wait(30, lan_peers=f"~{b.extension}")
    call_and_hang_up(b, a, old)

    # The network goes away: A says so and then waits on the kernel, doing nothing. Its loop
    # wakes no more than B's, an idle phone beside it, over the same stretch (B's 40 wake-ups:
    # its keypad scan's safety poll and mDNS). A loop polling every 10 ms would wake ~10 times
    # as often as B does.
    unplug(link)
    down = a.wait(30, status="No network", **{"network.address": "null"})
    assert down["call"] == "idle", down
    switches_a, switches_b = main_thread_switches(a), main_thread_switches(b)
    wait_until(lambda: main_thread_switches(b) >= switches_b + 40, 60, "40 wake-ups of B")
    woken_a = main_thread_switches(a) - switches_a
    woken_b = main_thread_switches(b) - switches_b
    print(f"network down: A woke {woken_a} times while B woke {woken_b}")
    assert woken_a <= 2 * woken_b + 20, (woken_a, woken_b)
    assert a.state()["network"]["renumbered"] == 0  # nothing was retried meanwhile

    switches_before = main_thread_switches(a)
    renumbered_at = time.monotonic()
    plug_in(link, new)
    state = a.wait(30, **{"network.address": new, "network.renumbered": "1"})
    assert state["sip"] == f"udp:{new}:5071", state
    # B hears A's announcement from the new address (RFC 6762 §10.2 cache flush)
    b.wait(60, **{f"lan_hosts.{a.extension}": f"{new}:5071"})
    took = time.monotonic() - renumbered_at
    print(f"renumbered: A announced again and B sees it {took:.2f} s after the link came up")
    # a handful of netlink messages woke A, not a poll
    assert 0 < a.state()["network"]["notifications"] < 50, a.state()["network"]
    assert main_thread_switches(a) > switches_before  # the counter is live

    call_and_hang_up(b, a, new)  # B calls A by extension, at the new address
    call_and_hang_up(a, b, link.b.address)  # and A's outgoing calls carry its new address
