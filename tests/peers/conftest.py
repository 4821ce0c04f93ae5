"""Fixtures for driving linphonec peers: free ports, a peer factory that always tears down."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from deskphone_tools.peers.linphone import LinphonePeer
from tests.support import free_udp_port, require_tool

T = TypeVar("T")


def free_rtp_port(host: str = "127.0.0.1") -> int:
    """An even port with the next one (RTCP, RFC 3550 §11) free too, for a linphone audio stream."""
    for _ in range(200):
        port = free_udp_port(host)
        if port % 2 or port + 1 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free even UDP port pair on {host} after 200 tries")


def process_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_with_file_in_cmdline(path: Path) -> list[int]:
    """Processes whose command line mentions path (our rc files are unique per test)."""
    found = []
    needle = str(path).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if needle in cmdline.read() and process_alive(int(entry)):
                    found.append(int(entry))
        except OSError:
            continue
    return found


class PeerPool:
    """Builds LinphonePeers with free ports under one directory and stops every one of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peers: list[LinphonePeer] = []

    def new(self, user: str, **options: Any) -> LinphonePeer:
        options.setdefault("sip_port", free_udp_port())
        options.setdefault("rtp_port", free_rtp_port())
        workdir = self.root / user
        workdir.mkdir(parents=True, exist_ok=True)
        peer = LinphonePeer(workdir, user=user, **options)
        self.peers.append(peer)
        return peer

    async def stop_all(self) -> None:
        await asyncio.gather(*(peer.stop() for peer in self.peers))

    def run(self, scenario: Callable[[], Awaitable[T]], timeout: float = 40) -> T:
        """Run an async scenario in a fresh loop, bounded by timeout; always stop the peers."""

        async def bounded() -> T:
            try:
                return await asyncio.wait_for(scenario(), timeout)
            finally:
                await self.stop_all()

        return asyncio.run(bounded())

    def assert_none_left(self) -> None:
        for peer in self.peers:
            assert not peer.running, f"linphonec {peer.pid} still running"
            if peer.pid is not None:
                assert not process_alive(peer.pid), (
                    f"linphonec {peer.pid} survived stop()"
                )
            leftovers = processes_with_file_in_cmdline(peer.rc_path)
            assert not leftovers, f"processes still using {peer.rc_path}: {leftovers}"


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[PeerPool]:
    """A PeerPool; at teardown every linphonec it started must be gone."""
    require_tool("linphonec")
    pool = PeerPool(tmp_path)
    yield pool
    pool.assert_none_left()
