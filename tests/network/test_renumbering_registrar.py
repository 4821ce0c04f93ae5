"""A phone registered with Kamailio is renumbered: it registers again from its new address and
a call through Kamailio reaches it there, without a restart (issue 16 item 3).

Everything runs in one network namespace of the test's own (tests/netns VethLink, side A):
Kamailio on its loopback, alice on the veth end by interface name, bob on loopback. The veth's
address is replaced while the link is down; Kamailio's location table (`ul.dump`) must then hold
alice's new Contact, and bob's call to 201 must ring alice and come up secure with media to the
new address.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.netns import NetnsPhone, VethLink
from tests.network.lab import (
    NamespacedKamailio,
    bob_reaches_alice_at,
    moved_in_kamailio,
    registered_pair,
    renumber,
)
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[tuple[VethLink, NamespacedKamailio, NetnsPhone,
                                                 NetnsPhone]]:
    require_root()
    require_tool("ip")
    with VethLink() as link, \
            registered_pair(tmp_path, link, f"udp:{link.a.device}:5071") as (server, alice, bob):
        yield link, server, alice, bob


def test_renumbered_phone_registers_again_and_is_called_through_kamailio(
        registered: tuple[VethLink, NamespacedKamailio, NetnsPhone, NetnsPhone]) -> None:
    link, server, alice, bob = registered
    old, new = link.a.address, f"10.77.{link.subnet}.3"
    assert f"{old}:5071" in server.contacts(), server.contacts()

    renumbered_at = time.monotonic()
    renumber(link, new)
    state = alice.wait(30, **{"network.renumbered": "1", "accounts.office.registrations": ">1",
                              "accounts.office.status": "registered"})
    took = time.monotonic() - renumbered_at
    assert state["sip"] == f"udp:{new}:5071", state
    moved_in_kamailio(server, old, new)
    print(f"renumbered: registered again from the new address in {took:.2f} s")

    bob_reaches_alice_at(alice, bob, new)
