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

from tests.netns.netns import NetnsPhone, VethLink
from tests.network.lab import (
    call_and_hang_up,
    interface_phone_config,
    plug_in,
    unplugged_without_busy_loop,
)
from tests.network.lab import (
    lan_pair as started_lan_pair,
)
from tests.network.wakeups import main_thread_switches
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]


@pytest.fixture
def lan_pair(tmp_path: Path) -> Iterator[tuple[VethLink, NetnsPhone, NetnsPhone]]:
    require_root()
    require_tool("ip")
    with VethLink() as link, started_lan_pair(
            tmp_path, link, lambda ext: interface_phone_config(ext, "Alice", link.a.device)) as (
                a, b):
        yield link, a, b


def test_lan_phone_renumbered_is_called_again_by_extension(
        lan_pair: tuple[VethLink, NetnsPhone, NetnsPhone]) -> None:
    link, a, b = lan_pair
    old, new = link.a.address, f"10.77.{link.subnet}.3"
    assert a.state()["sip"] == f"udp:{old}:5071"
    b.wait(30, lan_peers=f"~{a.extension}")
    a.wait(30, lan_peers=f"~{b.extension}")
    call_and_hang_up(b, a, old)

    unplugged_without_busy_loop(link, a, b)

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
