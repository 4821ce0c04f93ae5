"""Interop with Kamailio as registrar and record-routing proxy with digest auth (loopback)."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from deskphone.sip import events as ev
from deskphone.sip.registration import Account
from tests.sip.interop import SDP, endpoint, expect, process, workdir
from tests.support import free_udp_port, require_root, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]
CONFIG = pathlib.Path(__file__).parent / "kamailio.cfg"


def _wait_ready(port: int, deadline: float) -> None:
    """Poll with OPTIONS until Kamailio answers anything (bounded)."""
    probe = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe\r\n"
        f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(
                probe.replace(
                    b"127.0.0.1:9", f"127.0.0.1:{sock.getsockname()[1]}".encode()
                ),
                ("127.0.0.1", port),
            )
            try:
                sock.recv(4096)
                return
            except OSError:
                continue
    raise TimeoutError(f"kamailio did not answer on port {port}")


@pytest.fixture(scope="module")
def kamailio():
    binary = require_tool("kamailio")
    require_root()
    port = free_udp_port()
    with workdir() as tmp:
        cfg = pathlib.Path(tmp) / "kamailio.cfg"
        cfg.write_text(CONFIG.read_text().replace("__PORT__", str(port)))
        run = pathlib.Path(tmp) / "run"
        run.mkdir()
        shutil.chown(run, "nobody", "nogroup")
        os.chmod(cfg, 0o644)
        check = subprocess.run(
            [
                "runuser",
                "-u",
                "nobody",
                "--",
                binary,
                "-c",
                "-A",
                "WITH_AUTH",
                "-f",
                str(cfg),
            ],
            capture_output=True,
            check=False,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr[-2000:]
        args = [
            "runuser",
            "-u",
            "nobody",
            "--",
            binary,
            "-DD",
            "-E",
            "-A",
            "WITH_AUTH",
            "-f",
            str(cfg),
            "-Y",
            str(run),
            "-m",
            "32",
            "-M",
            "8",
        ]
        with process(args) as proc:
            _wait_ready(port, time.monotonic() + 15)
            yield port
            assert proc.poll() is None, "kamailio died during the tests"


def _account(port: int, user: str, expires: int = 60) -> Account:
    return Account(
        registrar=f"127.0.0.1:{port}", user=user, password=f"{user}pw", expires=expires
    )


async def _registered_pair(port: int):
    alice = await endpoint("alice", (_account(port, "alice"),))
    bob = await endpoint("bob", (_account(port, "bob"),))
    for ep in (alice, bob):
        ep.command(ep.ua.register)
        state = await expect(ep, ev.RegistrationState)
        assert state.state == "registered", state
    return alice, bob


async def _close(*eps):
    for ep in eps:
        ep.command(ep.ua.unregister)
    for ep in eps:
        await expect(ep, ev.RegistrationState, state="unregistered")
        await ep.close()


def test_register_with_digest_and_unregister(kamailio):
    async def main():
        alice = await endpoint("alice", (_account(kamailio, "alice"),))
        alice.command(alice.ua.register)
        state = await expect(alice, ev.RegistrationState)
        assert state == ev.RegistrationState(
            f"alice@127.0.0.1:{kamailio}", "registered", 60, "OK", 200, f"127.0.0.1:{kamailio}"
        )
        assert alice.ua.stats.auth_retries == 1  # 401 then 200
        await _close(alice)

    asyncio.run(main())


def test_wrong_password_fails(kamailio):
    async def main():
        bad = Account(registrar=f"127.0.0.1:{kamailio}", user="alice", password="nope")
        alice = await endpoint("alice", (bad,))
        alice.command(alice.ua.register)
        state = await expect(alice, ev.RegistrationState)
        assert state.state == "failed" and state.reason.startswith("401")
        await alice.close()

    asyncio.run(main())


def test_reregisters_before_short_expiry(kamailio):
    async def main():
        alice = await endpoint("alice", (_account(kamailio, "alice", expires=3),))
        alice.command(alice.ua.register)
        first = await expect(alice, ev.RegistrationState, state="registered")
        second = await expect(
            alice, ev.RegistrationState, state="registered", timeout=6
        )
        assert first.expires == second.expires == 3
        await _close(alice)

    asyncio.run(main())


def test_call_through_proxy_answer_and_caller_hangs_up(kamailio):
    async def main():
        alice, bob = await _registered_pair(kamailio)
        call_id = alice.command(alice.ua.invite, "bob", SDP)
        incoming = await expect(bob, ev.IncomingCall)
        assert (
            incoming.call_id == call_id
            and incoming.remote_uri == f"sip:alice@127.0.0.1:{kamailio}"
        )
        assert incoming.sdp == SDP  # the proxy never touches SDP
        bob_call = bob.ua.calls[call_id]
        assert bob_call.invite.headers.get_all("Record-Route"), (
            "kamailio record-routes INVITEs"
        )
        bob.command(bob.ua.ringing, call_id)
        await expect(alice, ev.CallProgress, code=180)
        bob.command(bob.ua.answer, call_id, SDP)
        assert (await expect(alice, ev.CallAnswered)).sdp == SDP
        await expect(bob, ev.CallEstablished)
        assert alice.ua.calls[call_id].dialog.route_set  # ACK/BYE go through the proxy
        assert alice.ua.stats.auth_retries >= 2  # 401 for REGISTER, 407 for INVITE
        alice.command(alice.ua.hangup, call_id)
        assert await expect(bob, ev.CallEnded) == ev.CallEnded(
            call_id, "remote_hangup", None
        )
        await _close(alice, bob)

    asyncio.run(main())


def test_callee_hangs_up(kamailio):
    async def main():
        alice, bob = await _registered_pair(kamailio)
        call_id = alice.command(alice.ua.invite, "bob", SDP)
        await expect(bob, ev.IncomingCall)
        bob.command(bob.ua.answer, call_id, SDP)
        await expect(alice, ev.CallAnswered)
        await expect(bob, ev.CallEstablished)
        bob.command(bob.ua.hangup, call_id)
        assert await expect(alice, ev.CallEnded) == ev.CallEnded(
            call_id, "remote_hangup", None
        )
        await _close(alice, bob)

    asyncio.run(main())


def test_cancel_while_ringing(kamailio):
    async def main():
        alice, bob = await _registered_pair(kamailio)
        call_id = alice.command(alice.ua.invite, "bob", SDP)
        await expect(bob, ev.IncomingCall)
        bob.command(bob.ua.ringing, call_id)
        await expect(alice, ev.CallProgress, code=180)
        alice.command(alice.ua.hangup, call_id)
        assert await expect(bob, ev.CallEnded) == ev.CallEnded(
            call_id, "cancelled", 487
        )
        assert await expect(alice, ev.CallEnded) == ev.CallEnded(
            call_id, "local_hangup", None
        )
        await _close(alice, bob)

    asyncio.run(main())


def test_unknown_user_is_404(kamailio):
    async def main():
        alice, bob = await _registered_pair(kamailio)
        call_id = alice.command(alice.ua.invite, "carol", SDP)
        assert await expect(alice, ev.CallEnded) == ev.CallEnded(
            call_id, "unreachable", 404
        )
        await _close(alice, bob)

    asyncio.run(main())
