"""The Pi's default, a wildcard listen (`[sip] listen = "udp:0.0.0.0:5071"`, media on 0.0.0.0 too),
follows a renumbering as a phone naming its interface does (issue 16 item 3).

The socket stays bound to every address; what the phone advertises follows the default route's
source address (routing/primary_address.py): Via and Contact, SDP c=/o=, the DNS-SD announcement.
Namespace A gets a default route via B, as a DHCP lease would give a router; renumbering takes
the link down, replaces the address and brings the link and the route back.

- LAN: B calls A by extension before and after, media to A's new address; A's outgoing calls
  carry it too; while A has no network its loop waits on the kernel (no busy loop).
- Kamailio (in A's namespace, on its loopback): alice's binding moves to the new address, the
  old one is removed, and bob's call reaches alice there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.netns import NetnsPhone, VethLink
from tests.network.lab import (
    WILDCARD,
    NamespacedKamailio,
    bob_reaches_alice_at,
    call_and_hang_up,
    default_route,
    moved_in_kamailio,
    plug_in_with_route,
    registered_pair,
    unplug,
    unplugged_without_busy_loop,
    wildcard_phone_config,
)
from tests.network.lab import (
    lan_pair as started_lan_pair,
)
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]


@pytest.fixture
def lan_pair(tmp_path: Path) -> Iterator[tuple[VethLink, NetnsPhone, NetnsPhone]]:
    require_root()
    require_tool("ip")
    with VethLink() as link:
        default_route(link)
        with started_lan_pair(tmp_path, link,
                              lambda ext: wildcard_phone_config(ext, "Alice")) as (a, b):
            yield link, a, b


def test_wildcard_lan_phone_renumbered_is_called_again_by_extension(
        lan_pair: tuple[VethLink, NetnsPhone, NetnsPhone]) -> None:
    link, a, b = lan_pair
    old, new = link.a.address, f"10.77.{link.subnet}.3"
    state = a.state()
    assert state["sip"] == WILDCARD, state  # bound to every address ...
    assert state["network"]["address"] == old, state  # ... advertising the default route's
    b.wait(30, **{f"lan_hosts.{a.extension}": f"{old}:5071"})  # announced there, not 0.0.0.0
    a.wait(30, lan_peers=f"~{b.extension}")
    call_and_hang_up(b, a, old)

    unplugged_without_busy_loop(link, a, b)  # no network: A waits on the kernel

    renumbered_at = time.monotonic()
    plug_in_with_route(link, new)
    state = a.wait(30, **{"network.address": new, "network.renumbered": "1"})
    assert state["sip"] == WILDCARD, state  # no re-bind: the wildcard hears the new address
    b.wait(60, **{f"lan_hosts.{a.extension}": f"{new}:5071"})
    took = time.monotonic() - renumbered_at
    print(f"renumbered (wildcard): A announced again and B sees it {took:.2f} s after the link "
          "came up")
    assert 0 < a.state()["network"]["notifications"] < 50, a.state()["network"]

    call_and_hang_up(b, a, new)  # B calls A by extension; A's SDP names its new address
    call_and_hang_up(a, b, link.b.address)  # and A's outgoing INVITE/SDP carry it


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[tuple[VethLink, NamespacedKamailio, NetnsPhone,
                                                 NetnsPhone]]:
    require_root()
    require_tool("ip")
    with VethLink() as link:
        default_route(link)
        with registered_pair(tmp_path, link, WILDCARD) as (server, alice, bob):
            yield link, server, alice, bob


def test_wildcard_phone_renumbered_registers_again_and_is_called_through_kamailio(
        registered: tuple[VethLink, NamespacedKamailio, NetnsPhone, NetnsPhone]) -> None:
    link, server, alice, bob = registered
    old, new = link.a.address, f"10.77.{link.subnet}.3"
    contacts = server.contacts()
    assert f"sip:alice@{old}:5071" in contacts, contacts  # the primary address ...
    assert "0.0.0.0" not in contacts, contacts  # ... never the wildcard

    renumbered_at = time.monotonic()
    unplug(link)
    alice.wait(30, **{"network.address": "null"})
    plug_in_with_route(link, new)
    state = alice.wait(30, **{"network.renumbered": "1", "network.address": new,
                              "accounts.office.registrations": ">1",
                              "accounts.office.status": "registered"})
    took = time.monotonic() - renumbered_at
    assert state["sip"] == WILDCARD, state
    moved_in_kamailio(server, old, new)
    print(f"renumbered (wildcard): registered again from the new address in {took:.2f} s")

    bob_reaches_alice_at(alice, bob, new)
