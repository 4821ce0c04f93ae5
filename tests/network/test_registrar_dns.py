"""The registrar's name does not resolve: the phone says so, retries with back-off without
spinning, and registers once the name resolves again (issue 16 item 3).

The phone and Kamailio run in a network namespace of the test's own, whose /etc/hosts and
/etc/resolv.conf are the test's (`ip netns exec` bind-mounts /etc/netns/NAME/* over /etc,
ip-netns(8)): the account's registrar is `sip.test` (one of Kamailio's aliases), first absent
from that hosts file — DNS goes to the namespace's own loopback, where nothing answers — then
written into it. No query leaves the namespace.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.kamailio import wait_until
from tests.netns.netns import NetnsPhone, VethLink
from tests.network.lab import NamespacedKamailio, netns_account_phone
from tests.network.wakeups import main_thread_switches
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]

NAME = "sip.test"  # an alias in tests/sip/kamailio.cfg
NOT_FOUND = f"No DNS: {NAME}"  # the status line (beside the clock: room for the name)
REASON = f"Registrar not found: {NAME}"  # the account's last failure


@pytest.fixture
def unresolved(tmp_path: Path) -> Iterator[tuple[Path, NamespacedKamailio, NetnsPhone]]:
    require_root()
    require_tool("ip")
    with VethLink() as link:
        etc = Path("/etc/netns") / link.a.name
        server = NamespacedKamailio()
        server.namespace = link.a.name
        phone: NetnsPhone | None = None
        try:
            etc.mkdir(parents=True)
            hosts = etc / "hosts"
            hosts.write_text("127.0.0.1 localhost\n")
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            server.start()
            phone = netns_account_phone(tmp_path, "alice", "201", f"{NAME}:{server.port}",
                                        link.a.name, "udp:127.0.0.1:0")
            phone.config_text = phone.config_text.replace(
                "failover_timeout_seconds", "retry_seconds = 1\nfailover_timeout_seconds")
            phone.start()
            yield hosts, server, phone
        finally:
            if phone is not None:
                phone.stop()
            server.close()
            shutil.rmtree(etc, ignore_errors=True)


def failures_logged(phone: NetnsPhone) -> int:
    """REGISTER attempts that found no registrar, from the phone's log (read without asking the
    phone anything: its loop is not woken by the count)."""
    return len(re.findall(r"cannot resolve sip\.test", phone.log_path.read_text(errors="replace")))


def test_registrar_name_not_resolving_is_shown_retried_and_recovered(
        unresolved: tuple[Path, NamespacedKamailio, NetnsPhone]) -> None:
    hosts, server, phone = unresolved
    state = phone.wait(30, status=NOT_FOUND, **{"accounts.office.status": NOT_FOUND})
    assert state["status"] == NOT_FOUND, state
    assert NOT_FOUND in state["screen"], state["screen"]
    assert state["accounts"]["office"]["last_failure"] == REASON, state

    # Retries with back-off (1 s base, doubling): count the loop's wake-ups between the 2nd and
    # the 4th failed attempt (some 3-6 s of waiting) while nobody talks to the phone.
    wait_until(lambda: failures_logged(phone) >= 2, 30, "a second attempt")
    switches, attempts = main_thread_switches(phone), failures_logged(phone)
    wait_until(lambda: failures_logged(phone) >= attempts + 2, 60, "two more attempts")
    woken = main_thread_switches(phone) - switches
    # A loop that polled every 10 ms would wake 300-600 times here. What this phone does:
    # the keypad's 250 ms safety scan and each resolution's hand-back from its thread.
    assert woken < 150, f"the loop woke {woken} times over two retries"
    print(f"dns: loop wake-ups over two retries: {woken}")

    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {NAME}\n")  # in place: the bind mount
    resolved_at = time.monotonic()
    state = phone.wait(60, status="registered", **{"accounts.office.status": "registered"})
    took = time.monotonic() - resolved_at
    assert state["status"] == "registered", state
    wait_until(lambda: "sip:alice@127.0.0.1" in server.contacts(), 20, "alice in the location")
    print(f"dns: registered {took:.2f} s after the name resolved again")
