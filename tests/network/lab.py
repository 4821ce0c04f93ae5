"""What the network tests share (issue 16 item 3): phone configurations that name an interface
or listen on the wildcard, the link going down and coming back with another address, a call made
and ended by extension, and Kamailio inside a test's network namespace with phones registered to
it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from deskphone_tools.harness import unique_extensions
from tests.interop.kamailio import Kamailio, kamcmd, wait_until
from tests.interop.phones import account_phone
from tests.netns.netns import NetnsPhone, VethLink, ip, phone_config, started
from tests.network.wakeups import main_thread_switches
from tests.support import require_tool

WILDCARD = "udp:0.0.0.0:5071"


def lan_phone_config(extension: str, name: str, listen: str, discovery: str = "") -> str:
    """A simulated LAN phone listening on `listen`, DNS-SD on `discovery` (else on the address
    it advertises)."""
    interface = f'\n[discovery]\ninterface = "{discovery}"\n' if discovery else ""
    return f"""
[identity]
user = "ext{extension}"
extension = "{extension}"
display_name = "{name}"

[sip]
listen = "{listen}"
{interface}
[devices]
mode = "sim"
"""


def interface_phone_config(extension: str, name: str, device: str) -> str:
    """A LAN phone that names its interface instead of an address: it follows renumbering."""
    return lan_phone_config(extension, name, f"udp:{device}:5071", discovery=device)


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


def wildcard_phone_config(extension: str, name: str) -> str:
    """A LAN phone with the Pi's defaults for addresses: SIP and media on every address,
    DNS-SD on the address it advertises."""
    return lan_phone_config(extension, name, WILDCARD)


def default_route(link: VethLink) -> None:
    """A's default route via B (what DHCP's router option sets up)."""
    ip("-n", link.a.name, "route", "replace", "default", "via", link.b.address)


def plug_in_with_route(link: VethLink, address: str) -> None:
    """A's link up with `address` and its default route back (another network, a new lease)."""
    ip("-n", link.a.name, "addr", "add", f"{address}/24", "dev", link.a.device)
    ip("-n", link.a.name, "link", "set", link.a.device, "up")
    default_route(link)


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


@contextlib.contextmanager
def registered_pair(root: Path, link: VethLink, alice_listen: str) -> Iterator[
        tuple[NamespacedKamailio, NetnsPhone, NetnsPhone]]:
    """Kamailio on the loopback of side A's namespace; alice listening on `alice_listen` (an
    interface name or the wildcard) and bob on loopback, both registered to it."""
    server = NamespacedKamailio()
    server.namespace = link.a.name
    try:
        server.start()
        alice = netns_account_phone(root, "alice", "201", server.address, link.a.name,
                                    alice_listen)
        bob = netns_account_phone(root, "bob", "202", server.address, link.a.name,
                                  "udp:127.0.0.1:0")
        with started(alice, bob):
            for phone in (alice, bob):
                phone.wait(30, **{"accounts.office.status": "registered"})
            yield server, alice, bob
    finally:
        server.close()


def unplugged_without_busy_loop(link: VethLink, a: NetnsPhone, b: NetnsPhone) -> None:
    """A's network goes away: A says so and then waits on the kernel, doing nothing. Its loop
    wakes no more than B's, an idle phone beside it, over the same stretch (B's 40 wake-ups: its
    keypad scan's safety poll and mDNS); a loop polling every 10 ms would wake ~10 times as often.
    """
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


def moved_in_kamailio(server: NamespacedKamailio, old: str, new: str) -> None:
    """alice's binding at the new address, and the one at the old address taken away with the
    new REGISTER (no forking to it)."""
    wait_until(lambda: f"sip:alice@{new}:5071" in server.contacts(), 20,
               f"alice's new contact in Kamailio's location\n{server.contacts()}")
    wait_until(lambda: f"sip:alice@{old}:5071" not in server.contacts(), 20,
               f"alice's old contact removed\n{server.contacts()}")


def bob_reaches_alice_at(alice: NetnsPhone, bob: NetnsPhone, address: str) -> None:
    """bob dials 201 through Kamailio: alice rings, answers, and bob's media goes to `address`."""
    bob.ctl("hook", "off")
    bob.ctl("press", "201#")
    ringing = alice.wait(30, call="ringing")
    assert "Bob" in ringing["screen"] or "bob" in ringing["screen"], ringing
    alice.ctl("hook", "off")
    state = bob.wait(30, call="in_call", security="secure|verified")
    assert state["remote_media"].startswith(f"{address}:"), state  # alice's SDP names it
    alice.wait(20, **{"media.packets_received": ">25"})
    bob.ctl("hook", "on")
    alice.wait(20, call="ended")


@contextlib.contextmanager
def lan_pair(root: Path, link: VethLink, a_config: Callable[[str], str]) -> Iterator[
        tuple[NetnsPhone, NetnsPhone]]:
    """Phone A (its configuration from its extension) on side A of `link`, phone B bound to side
    B's address, both started and stopped again however the test ends."""
    ext_a, ext_b = unique_extensions(2)
    a = NetnsPhone("A", ext_a, root / "a", a_config(ext_a))
    b = NetnsPhone("B", ext_b, root / "b", phone_config(ext_b, "Bob", link.b.address))
    a.namespace, b.namespace = link.a.name, link.b.name
    with started(a, b):
        yield a, b
