"""LanDirectory over real mDNS: on loopback, and across two network namespaces via veth."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from deskphone.routing.discovery import LanDirectory
from tests.support import free_udp_port, require_root, require_tool

REPO = Path(__file__).resolve().parents[2]
ZID_A = "a1" * 12
ZID_B = "b2" * 12


async def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition with a bound (the sleep paces polling; it times nothing)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def test_two_directories_on_loopback_find_each_other() -> None:
    async def scenario() -> None:
        changes: list[str] = []
        a = LanDirectory("127.0.0.1", "201", free_udp_port(), ZID_A, "Alice",
                         on_change=lambda d: changes.append(d.extension))
        b = LanDirectory("127.0.0.1", "202", free_udp_port(), ZID_B, "Bob")
        await a.start()
        await b.start()
        try:
            await _wait_until(lambda: a.lookup("202") is not None and b.lookup("201") is not None)
            peer = a.lookup("202")
            assert peer is not None
            assert (peer.host, peer.port, peer.zid, peer.name) == ("127.0.0.1", b.sip_port,
                                                                   ZID_B, "Bob")
            assert b.lookup("201").zid == ZID_A  # type: ignore[union-attr]
            assert a.free_extension("202") == "203"
            assert a.conflicts == {} and not a.own_extension_taken
            assert "201" in changes
            await b.close()
            await _wait_until(lambda: a.lookup("202") is None)   # goodbye packet removes it
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_a_second_phone_claiming_our_extension_is_reported() -> None:
    async def scenario() -> None:
        a = LanDirectory("127.0.0.1", "300", free_udp_port(), ZID_A, "First")
        b = LanDirectory("127.0.0.1", "300", free_udp_port(), ZID_B, "Second")
        await a.start()
        await b.start()
        try:
            await _wait_until(lambda: a.own_extension_taken and b.own_extension_taken)
            assert a.free_extension("300") == "301"
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


@pytest.mark.netns
def test_two_phones_in_separate_network_namespaces_over_veth() -> None:
    require_root()
    require_tool("ip")
    suffix = uuid.uuid4().hex[:6]
    ns_a, ns_b = f"dpA{suffix}", f"dpB{suffix}"
    veth_a, veth_b = f"va{suffix}", f"vb{suffix}"
    processes: list[subprocess.Popen[str]] = []
    try:
        _run("ip", "netns", "add", ns_a)
        _run("ip", "netns", "add", ns_b)
        _run("ip", "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        _run("ip", "link", "set", veth_a, "netns", ns_a)
        _run("ip", "link", "set", veth_b, "netns", ns_b)
        _run("ip", "-n", ns_a, "addr", "add", "10.77.0.1/24", "dev", veth_a)
        _run("ip", "-n", ns_b, "addr", "add", "10.77.0.2/24", "dev", veth_b)
        for ns, dev in ((ns_a, veth_a), (ns_b, veth_b)):
            _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        env = {**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"}
        for ns, address, ext, zid, wanted in ((ns_a, "10.77.0.1", "201", ZID_A, "202"),
                                              (ns_b, "10.77.0.2", "202", ZID_B, "201")):
            processes.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.routing.lan_phone",
                 address, ext, "5060", zid, wanted],
                cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
        found = []
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()   # bounded: the helper gives up after 20 s
            assert line.startswith("FOUND "), (line, process.stderr.read() if process.stderr
                                               else "")
            found.append(json.loads(line[6:]))
        assert found[0] == {"extension": "202", "host": "10.77.0.2", "port": 5060,
                            "zid": ZID_B, "name": "Phone 202"}
        assert found[1]["host"] == "10.77.0.1" and found[1]["zid"] == ZID_A
        for process in processes:
            out, _ = process.communicate("quit\n", timeout=15)
            assert "CLOSED" in out and process.returncode == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True,
                           timeout=10)
