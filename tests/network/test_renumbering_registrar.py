"""A phone registered with Kamailio is renumbered: it registers again from its new address and
a call through Kamailio reaches it there, without a restart (issue 16 item 3).

Everything runs in one network namespace of the test's own (tests/netns VethLink, side A):
Kamailio on its loopback, alice on the veth end by interface name, bob on loopback. The veth's
address is replaced while the link is down; Kamailio's location table (`ul.dump`) must then hold
alice's new Contact, and bob's call to 201 must ring alice and come up secure with media to the
new address.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.kamailio import Kamailio, kamcmd, wait_until
from tests.interop.phones import account_phone
from tests.netns.netns import NetnsPhone, VethLink
from tests.network.test_renumbering import renumber
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]


class NamespacedKamailio(Kamailio):
    """The interop tests' Kamailio, started inside a network namespace (its loopback there)."""

    namespace: str = ""

    def start(self) -> None:
        binary = require_tool("kamailio")
        require_tool("runuser")
        cfg = self.render()
        with open(self.root / "kamailio.log", "ab") as log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, "runuser", "-u", "nobody", "--",
                 binary, "-DD", "-E", "-A", "WITH_AUTH", "-f", str(cfg), "-Y",
                 str(self.root / "run"), "-m", "32", "-M", "8"],
                stdout=log, stderr=log, start_new_session=True)
        # The ctl socket is a UNIX socket: the test reaches it from outside the namespace.
        wait_until(lambda: kamcmd(self.ctl, "core.version") is not None, 20,
                   f"kamailio's ctl socket\n{self.log_tail()}")


def netns_account_phone(root: Path, user: str, extension: str, registrar: str, namespace: str,
                        listen: str) -> NetnsPhone:
    template = account_phone(root, user, extension, [registrar])
    text = template.config_text.replace('listen = "udp:127.0.0.1:0"', f'listen = "{listen}"')
    assert f'listen = "{listen}"' in text
    phone = NetnsPhone(user, extension, root / user, text)
    phone.namespace = namespace
    return phone


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[tuple[VethLink, NamespacedKamailio, NetnsPhone,
                                                 NetnsPhone]]:
    require_root()
    require_tool("ip")
    with VethLink() as link:
        server = NamespacedKamailio()
        server.namespace = link.a.name
        phones: list[NetnsPhone] = []
        try:
            server.start()
            alice = netns_account_phone(tmp_path, "alice", "201", server.address, link.a.name,
                                        f"udp:{link.a.device}:5071")
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
    wait_until(lambda: f"sip:alice@{new}:5071" in server.contacts(), 20,
               f"alice's new contact in Kamailio's location\n{server.contacts()}")
    # the binding at the old address was taken away with the new REGISTER (no forking to it)
    wait_until(lambda: f"sip:alice@{old}:5071" not in server.contacts(), 20,
               f"alice's old contact removed\n{server.contacts()}")
    print(f"renumbered: registered again from the new address in {took:.2f} s")

    bob.ctl("hook", "off")
    bob.ctl("press", "201#")
    ringing = alice.wait(30, call="ringing")
    assert "Bob" in ringing["screen"] or "bob" in ringing["screen"], ringing
    alice.ctl("hook", "off")
    state = bob.wait(30, call="in_call", security="secure|verified")
    assert state["remote_media"].startswith(f"{new}:"), state
    alice.wait(20, **{"media.packets_received": ">25"})
    bob.ctl("hook", "on")
    alice.wait(20, call="ended")
