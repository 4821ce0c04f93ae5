"""Issue 16 item 2: the network interface goes away mid-call (its address deleted, or the link
itself) → the call ends with "Connection lost" and a BYE attempt, and the phone does not spin
on the send errors (ENETUNREACH, EADDRNOTAVAIL) meanwhile.

Two whole phones in their own network namespaces, joined by a veth pair (tests/netns/netns.py),
call each other (SAS agreed, audio flowing); then phone A's interface loses its address, or the
veth is deleted (both ends go). `[media] inactivity_timeout` is short (5 s) so the test is quick;
the session timer (RFC 4028) would end it too, later. CPU time is read from /proc: a busy loop
on failing sends would burn a whole core while the phone waits for the timeout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskphone_tools.harness import unique_extensions
from tests.netns.netns import NetnsPhone, VethLink, ip, phone_config, started
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

TIMEOUT = 5.0  # [media] inactivity_timeout


def config(extension: str, name: str, address: str) -> str:
    """netns.phone_config with a short media inactivity timeout in its [media] table."""
    text = phone_config(extension, name, address)
    media = f'[media]\nhost = "{address}"\n'
    assert media in text
    return text.replace(media, f"{media}inactivity_timeout = {TIMEOUT}\n")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (proc(5) fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[VethLink, NetnsPhone, NetnsPhone]]:
    require_root()
    require_tool("ip")
    ext_a, ext_b = unique_extensions(2)
    with VethLink() as link:
        a = NetnsPhone("A", ext_a, tmp_path / "a", config(ext_a, "Alice", link.a.address))
        b = NetnsPhone("B", ext_b, tmp_path / "b", config(ext_b, "Bob", link.b.address))
        a.namespace, b.namespace = link.a.name, link.b.name
        with started(a, b):
            yield link, a, b
    assert not link.left_behind(), f"namespaces left behind: {link.left_behind()}"


def logs(*phones: NetnsPhone) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in phones)


@pytest.mark.parametrize("loss", ["address", "link"])
def test_interface_gone_mid_call_ends_with_connection_lost_and_a_bye_no_busy_loop(
        pair: tuple[VethLink, NetnsPhone, NetnsPhone], loss: str) -> None:
    link, a, b = pair
    a.wait(20, lan_peers=f"~{b.extension}")
    a.ctl("hook", "off")
    a.ctl("press", f"{b.extension}#")
    b.wait(call="ringing")
    b.ctl("hook", "off")
    a.wait(security="secure|verified", call="in_call")
    b.wait(security="secure|verified", call="in_call")
    a.wait(**{"media.packets_received": ">50"})
    sent_before = a.state()["sip_stats"]["datagrams_out"]
    assert a.proc is not None
    cpu_before, wall_before = cpu_seconds(a.proc.pid), time.monotonic()
    if loss == "address":
        ip("-n", link.a.name, "addr", "del", f"{link.a.address}/24", "dev", link.a.device)
    else:
        ip("-n", link.a.name, "link", "del", link.a.device)  # the veth pair: both ends go
    ended = a.wait(TIMEOUT + 20, call="ended")
    cpu = cpu_seconds(a.proc.pid) - cpu_before
    wall = time.monotonic() - wall_before
    print(f"{loss} gone -> 'Connection lost' after {wall:.1f} s; CPU {cpu:.2f} s "
          f"({100 * cpu / wall:.0f}% of a core)")
    context = logs(a, b)
    assert "Connection lost" in ended["screen"], context
    # the BYE was attempted (RFC 3261 §15): SIP datagrams left after the loss, though none
    # can arrive, and the phone is free again, not stuck on the dead call
    a.ctl("hook", "on")
    after = a.wait(call="idle", timeout=15)
    assert after["sip_stats"]["datagrams_out"] > sent_before, context
    assert a.proc.poll() is None and "Traceback" not in a.log_path.read_text(), context
    # no busy loop on the failing sends: a spinning loop takes a whole core
    assert cpu < 0.5 * wall, (cpu, wall, context)
    # the other side saw its peer vanish too (no media, then its own BYE attempt)
    far = b.wait(TIMEOUT + 20, call="ended")
    assert "Connection lost" in far["screen"], logs(b)
