"""A deskphone process and linphonec processes on loopback, always torn down.

The phone is a real `deskphone run --sim` process (deskphone_tools.harness.PhoneProcess) with discovery
off and SIP on a free loopback port; linphonec instances come from tests.peers' PeerPool (its own
HOME, fresh ZRTP cache, file audio). Every scenario runs under one asyncio.wait_for bound, and the
fixture fails the test if any linphonec or phone outlives it.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.peers.linphone import LinphonePeer
from tests.peers.conftest import PeerPool, process_alive
from tests.support import free_udp_port, require_tool

T = TypeVar("T")

RATE = 8000  # the simulated handset's sample rate ([audio] rate default)
OUR_TONE_HZ = 700.0  # what our handset "says" (capture file)
LINPHONE_TONE_HZ = 1000.0  # what linphonec plays


def tone_pcm(frequency: float, seconds: float, amplitude: int = 12000) -> bytes:
    """S16LE mono at RATE: the raw format of the sim handset's capture file."""
    count = int(RATE * seconds)
    return struct.pack(f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * frequency * i / RATE))
                                       for i in range(count)))


def phone_config(sip_port: int, workdir: Path, *, extra: str = "") -> str:
    return f"""
[identity]
user = "ext201"
extension = "201"
display_name = "Alice"

[sip]
listen = "udp:127.0.0.1:{sip_port}"

[devices]
mode = "sim"

[discovery]
enabled = false

[audio]
capture_file = "{workdir / 'capture.raw'}"
playback_file = "{workdir / 'playback.raw'}"
{extra}
"""


class Interop:
    """Builds one phone and linphonec peers under tmp_path and stops all of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pool = PeerPool(root / "linphone")
        self.phones: list[PhoneProcess] = []

    def phone(self, *, extra: str = "", tone_hz: float = OUR_TONE_HZ) -> PhoneProcess:
        workdir = self.root / f"phone{len(self.phones)}"
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (workdir / "capture.raw").write_bytes(tone_pcm(tone_hz, 30))
        phone = PhoneProcess("ours", "201", workdir,
                             phone_config(free_udp_port(), workdir, extra=extra))
        self.phones.append(phone)
        phone.start()
        return phone

    @staticmethod
    def sip_uri(phone: PhoneProcess) -> str:
        """sip:ext201@127.0.0.1:<port> from the phone's own report of its SIP socket."""
        transport, host, port = phone.state()["sip"].split(":")
        assert transport == "udp"
        return f"sip:ext201@{host}:{port}"

    def linphone(self, user: str = "bob", **options: Any) -> LinphonePeer:
        return self.pool.new(user, **options)

    def run(self, scenario: Callable[[], Awaitable[T]], timeout: float = 40) -> T:
        return self.pool.run(scenario, timeout)

    def stop(self) -> None:
        for phone in self.phones:
            phone.stop()

    def assert_none_left(self) -> None:
        self.pool.assert_none_left()
        for phone in self.phones:
            if phone.proc is not None:
                assert not process_alive(phone.proc.pid), f"phone {phone.proc.pid} survived"


@pytest.fixture
def interop(tmp_path: Path) -> Iterator[Interop]:
    require_tool("linphonec")
    setup = Interop(tmp_path)
    try:
        yield setup
    finally:
        setup.stop()
    setup.assert_none_left()


async def wait_phone(phone: PhoneProcess, timeout: float = 15, **conditions: str) -> dict[str, Any]:
    """phone.wait(...) without blocking the event loop that reads linphonec's output."""
    try:
        return await asyncio.to_thread(phone.wait, timeout, **conditions)
    except Exception as exc:
        raise AssertionError(f"phone never reached {conditions}: {exc}\nphone log:\n"
                             f"{phone.log_tail()}") from exc


async def phone_ctl(phone: PhoneProcess, *words: str) -> Any:
    return await asyncio.to_thread(phone.ctl, *words)


async def wait_file_size(path: Path, *, min_bytes: int, timeout: float) -> None:
    """linphonec prints nothing for received audio: wait on its recording growing instead."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (path.exists() and path.stat().st_size >= min_bytes):
        if loop.time() > deadline:
            size = path.stat().st_size if path.exists() else None
            raise AssertionError(f"{path} has {size} bytes after {timeout} s, expected {min_bytes}")
        await asyncio.sleep(0.05)
