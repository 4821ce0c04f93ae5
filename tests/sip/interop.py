"""Helpers for interop tests: endpoints on loopback, bounded waits, external processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from deskphone.sip import events as ev
from deskphone.sip.registration import Account
from deskphone.sip.transport import SipEndpoint
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.support import free_udp_port

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


async def endpoint(
    user: str, accounts: tuple[Account, ...] = (), transport: str = "udp", **options
) -> SipEndpoint:
    config = UaConfig(
        user=user,
        display_name=user.title(),
        local_host="127.0.0.1",
        local_port=free_udp_port(),
        transport=transport,
        accounts=accounts,
        **options,
    )
    ep = SipEndpoint(UserAgent(config))
    await ep.start()
    return ep


async def expect(ep: SipEndpoint, kind: type, timeout: float = 5.0, **fields):
    """Wait for the next event of `kind` (others before it are returned too, for inspection)."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            event = await ep.events.get()
            seen.append(event)
            if isinstance(event, kind) and all(
                getattr(event, k) == v for k, v in fields.items()
            ):
                return event
            if isinstance(event, ev.CallEnded) and kind in (
                ev.CallProgress,
                ev.CallAnswered,
                ev.CallEstablished,
            ):
                raise AssertionError(
                    f"call ended while waiting for {kind.__name__}: {seen}"
                )


@contextlib.contextmanager
def process(args: list[str], **kwargs) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


@contextlib.contextmanager
def workdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="deskphone-sip-")
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
