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

from deskphone_tools.harness import unique_extensions
from tests.interop.kamailio import wait_until
from tests.netns.netns import NetnsPhone, VethLink, ip, phone_config
from tests.network.test_renumbering import call_and_hang_up, unplug
from tests.network.test_renumbering_registrar import NamespacedKamailio, netns_account_phone
from tests.network.wakeups import main_thread_switches
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

WILDCARD = "udp:0.0.0.0:5071"


def wildcard_phone_config(extension: str, name: str) -> str:
    """A LAN phone with the Pi's defaults for addresses: SIP and media on every address,
    DNS-SD on the address it advertises."""
    return f"""
[identity]
user = "ext{extension}"
extension = "{extension}"
display_name = "{name}"

[sip]
listen = "{WILDCARD}"

[devices]
mode = "sim"
"""


def default_route(link: VethLink) -> None:
    """A's default route via B (what DHCP's router option sets up)."""
    ip("-n", link.a.name, "route", "replace", "default", "via", link.b.address)


def plug_in_with_route(link: VethLink, address: str) -> None:
    """A's link up with `address` and its default route back (another network, a new lease)."""
    ip("-n", link.a.name, "addr", "add", f"{address}/24", "dev", link.a.device)
    ip("-n", link.a.name, "link", "set", link.a.device, "up")
    default_route(link)


@pytest.fixture
def lan_pair(tmp_path: Path) -> Iterator[tuple[VethLink, NetnsPhone, NetnsPhone]]:
    require_root()
    require_tool("ip")
    ext_a, ext_b = unique_extensions(2)
    with VethLink() as link:
        default_route(link)
        a = NetnsPhone("A", ext_a, tmp_path / "a", wildcard_phone_config(ext_a, "Alice"))
        b = NetnsPhone("B", ext_b, tmp_path / "b", phone_config(ext_b, "Bob", link.b.address))
        a.namespace, b.namespace = link.a.name, link.b.name
        try:
            a.start()
            b.start()
            yield link, a, b
        finally:
            for phone in (a, b):
                phone.stop()


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

    # No network: A says so and waits on the kernel; it wakes no more than B, an idle phone
    # beside it, over the same stretch (see test_renumbering.py).
    unplug(link)
    down = a.wait(30, status="No network", **{"network.address": "null"})
    assert down["call"] == "idle", down
    switches_a, switches_b = main_thread_switches(a), main_thread_switches(b)
    wait_until(lambda: main_thread_switches(b) >= switches_b + 40, 60, "40 wake-ups of B")
    woken_a = main_thread_switches(a) - switches_a
    woken_b = main_thread_switches(b) - switches_b
    print(f"network down: A woke {woken_a} times while B woke {woken_b}")
    assert woken_a <= 2 * woken_b + 20, (woken_a, woken_b)
    assert a.state()["network"]["renumbered"] == 0

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
        server = NamespacedKamailio()
        server.namespace = link.a.name
        phones: list[NetnsPhone] = []
        try:
            server.start()
            alice = netns_account_phone(tmp_path, "alice", "201", server.address, link.a.name,
                                        WILDCARD)
            bob = netns_account_phone(tmp_path, "bob", "202", server.address, link.a.name,
                                      "udp:127.0.0.1:0")
            phones = [alice, bob]
            for phone in phones:
                phone.start()
                phone.wait(30, **{"accounts.office.status": "registered"})
            yield link, server, alice, bob
        finally:
            for phone in phones:
                phone.stop()
            server.close()


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
    wait_until(lambda: f"sip:alice@{new}:5071" in server.contacts(), 20,
               f"alice's new contact in Kamailio's location\n{server.contacts()}")
    wait_until(lambda: f"sip:alice@{old}:5071" not in server.contacts(), 20,
               f"alice's old contact removed\n{server.contacts()}")
    print(f"renumbered (wildcard): registered again from the new address in {took:.2f} s")

    bob.ctl("hook", "off")
    bob.ctl("press", "201#")
    ringing = alice.wait(30, call="ringing")
    assert "Bob" in ringing["screen"] or "bob" in ringing["screen"], ringing
    alice.ctl("hook", "off")
    state = bob.wait(30, call="in_call", security="secure|verified")
    assert state["remote_media"].startswith(f"{new}:"), state  # alice's SDP: the new address
    alice.wait(20, **{"media.packets_received": ">25"})
    bob.ctl("hook", "on")
    alice.wait(20, call="ended")
