"""Interop with SIPp (loopback): SIPp calls us and we call SIPp. The SIPp scenario files in
tests/sip/scenarios/ encode what SIPp expects to see; SIPp's exit status 0 means it saw it."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from deskphone.sip import events as ev
from tests.sip.interop import SDP, endpoint, expect
from tests.support import free_udp_port, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]
SCENARIOS = pathlib.Path(__file__).parent / "scenarios"


async def sipp(scenario: str, *args: str):
    binary = require_tool("sipp")
    port = free_udp_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        "1",
        "-l",
        "1",
        "-timeout",
        "20s",
        "-timeout_error",
        "-nostdin",
        "-nd",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return proc, port


async def finished(proc, timeout: float = 25.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (
        f"sipp failed ({proc.returncode}): {stderr.decode(errors='replace')[-1500:]}"
    )


def wire(ep) -> list[str]:
    """Record the start line of everything the endpoint sends."""
    lines: list[str] = []
    original = ep._send

    def send(data, addr):
        lines.append(data.split(b"\r\n", 1)[0].decode())
        original(data, addr)

    ep._send = send
    return lines


async def _sipp_calls_us(scenario: str):
    phone = await endpoint("phone")
    proc, _ = await sipp(
        scenario, "-s", "phone", f"127.0.0.1:{phone.ua.config.local_port}"
    )
    incoming = await expect(phone, ev.IncomingCall, timeout=10)
    assert b"m=audio" in incoming.sdp and incoming.remote_uri.startswith(
        "sip:sipp@127.0.0.1:"
    )
    return phone, proc, incoming.call_id


def test_sipp_calls_us_and_hangs_up():
    async def main():
        phone, proc, call_id = await _sipp_calls_us("uac_caller_hangs_up.xml")
        phone.command(phone.ua.ringing, call_id)
        phone.command(phone.ua.answer, call_id, SDP)
        await expect(phone, ev.CallEstablished)
        assert await expect(phone, ev.CallEnded) == ev.CallEnded(
            call_id, "remote_hangup", None
        )
        await finished(proc)
        await phone.close()

    asyncio.run(main())


def test_sipp_calls_us_and_we_hang_up():
    async def main():
        phone, proc, call_id = await _sipp_calls_us("uac_callee_hangs_up.xml")
        phone.command(phone.ua.answer, call_id, SDP)
        await expect(phone, ev.CallEstablished)
        phone.command(phone.ua.hangup, call_id)
        assert await expect(phone, ev.CallEnded) == ev.CallEnded(
            call_id, "local_hangup", None
        )
        await finished(proc)
        await phone.close()

    asyncio.run(main())


def test_sipp_cancels_while_ringing():
    async def main():
        phone, proc, call_id = await _sipp_calls_us("uac_cancel.xml")
        phone.command(phone.ua.ringing, call_id)
        assert await expect(phone, ev.CallEnded) == ev.CallEnded(
            call_id, "cancelled", 487
        )
        await finished(proc)
        await phone.close()

    asyncio.run(main())


def test_retransmitted_invite_is_absorbed():
    async def main():
        phone, proc, call_id = await _sipp_calls_us("uac_retransmitted_invite.xml")
        async with asyncio.timeout(5):
            while phone.ua.stats.retransmissions_absorbed < 1:
                await asyncio.sleep(0.02)  # polling a counter, bounded by the timeout
        phone.command(phone.ua.ringing, call_id)
        phone.command(phone.ua.answer, call_id, SDP)
        await expect(phone, ev.CallEstablished)
        await expect(phone, ev.CallEnded, reason="remote_hangup")
        await finished(proc)
        assert phone.ua.stats.retransmissions_absorbed == 1 and len(phone.ua.calls) == 1
        await phone.close()

    asyncio.run(main())


def test_lost_ack_makes_us_retransmit_200():
    async def main():
        phone, proc, call_id = await _sipp_calls_us("uac_lost_ack.xml")
        sent = wire(phone)
        phone.command(phone.ua.answer, call_id, SDP)
        await expect(phone, ev.CallEstablished)
        assert (
            sent.count("SIP/2.0 200 OK") >= 2
        )  # retransmitted at T1, 2*T1 until the late ACK
        await expect(phone, ev.CallEnded, reason="remote_hangup")
        await finished(proc)
        await phone.close()

    asyncio.run(main())


async def _we_call_sipp(scenario: str, *args: str):
    phone = await endpoint("phone")
    proc, port = await sipp(scenario, *args)
    await asyncio.sleep(
        0.3
    )  # SIPp binds its socket after start; INVITE retransmission covers a race
    call_id = phone.command(phone.ua.invite, f"sip:sipp@127.0.0.1:{port}", SDP)
    return phone, proc, call_id


def test_we_call_sipp_it_answers_we_hang_up():
    async def main():
        phone, proc, call_id = await _we_call_sipp("uas_answer.xml")
        await expect(phone, ev.CallProgress, code=180)
        assert b"m=audio" in (await expect(phone, ev.CallAnswered)).sdp
        phone.command(phone.ua.hangup, call_id)
        await finished(proc)
        await phone.close()

    asyncio.run(main())


def test_we_call_sipp_slow_answer():
    async def main():
        phone, proc, call_id = await _we_call_sipp("uas_slow_answer.xml")
        await expect(phone, ev.CallProgress, code=180)
        await expect(phone, ev.CallAnswered, timeout=5)
        phone.command(phone.ua.hangup, call_id)
        await finished(proc)
        await phone.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("scenario", "code", "reason"),
    [("uas_busy.xml", 486, "busy"), ("uas_decline.xml", 603, "declined")],
)
def test_we_call_sipp_and_are_rejected(scenario, code, reason):
    async def main():
        phone, proc, call_id = await _we_call_sipp(scenario)
        assert await expect(phone, ev.CallEnded) == ev.CallEnded(call_id, reason, code)
        await finished(proc)  # SIPp saw our ACK for its final response
        await phone.close()

    asyncio.run(main())


def test_we_follow_a_302_redirect():
    async def main():
        phone, proc, call_id = await _we_call_sipp("uas_redirect.xml")
        redirect = await expect(phone, ev.Redirect)
        assert redirect.call_id == call_id and redirect.contacts[0].startswith(
            "sip:moved@127.0.0.1:"
        )
        await expect(phone, ev.CallAnswered)
        assert str(phone.ua.calls[call_id].invite.uri).startswith("sip:moved@")
        phone.command(phone.ua.hangup, call_id)
        await finished(proc)
        await phone.close()

    asyncio.run(main())
