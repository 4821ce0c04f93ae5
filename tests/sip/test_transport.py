"""The asyncio transport on loopback: UDP and TCP calls between two endpoints, TLS verification,
rate limiting and oversize/garbage input."""

from __future__ import annotations

import asyncio
import socket

import pytest

from deskphone.sip import events as ev
from deskphone.sip.transport import SipEndpoint, TransportConfig
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.sip.interop import SDP, endpoint, expect
from tests.support import free_udp_port

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_between_two_endpoints(transport):
    async def main():
        alice = await endpoint("alice", transport=transport)
        bob = await endpoint("bob", transport=transport)
        target = f"sip:bob@127.0.0.1:{bob.ua.config.local_port}" + (
            ";transport=tcp" if transport == "tcp" else ""
        )
        call_id = alice.command(alice.ua.invite, target, SDP)
        await expect(bob, ev.IncomingCall)
        bob.command(bob.ua.answer, call_id, SDP)
        await expect(alice, ev.CallAnswered)
        await expect(bob, ev.CallEstablished)
        alice.command(alice.ua.hangup, call_id)
        assert await expect(bob, ev.CallEnded) == ev.CallEnded(
            call_id, "remote_hangup", None
        )
        await alice.close()
        await bob.close()

    asyncio.run(main())


def test_tcp_connection_refused_ends_call_as_unreachable():
    async def main():
        alice = await endpoint("alice", transport="tcp")
        dead = free_udp_port()
        call_id = alice.command(
            alice.ua.invite, f"sip:bob@127.0.0.1:{dead};transport=tcp", SDP
        )
        assert await expect(alice, ev.CallEnded) == ev.CallEnded(
            call_id, "unreachable", 503
        )
        await alice.close()

    asyncio.run(main())


def test_tls_refuses_a_server_it_cannot_verify():
    async def main():
        # A plain TCP listener is not a TLS server we can verify: the handshake fails.
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        alice = await endpoint("alice", transport="tls")
        alice.command(alice.ua.invite, f"sips:bob@127.0.0.1:{port}", SDP)
        assert (await expect(alice, ev.CallEnded)).reason == "unreachable"
        assert alice.stats.send_failures == 1
        await alice.close()
        server.close()

    asyncio.run(main())


def test_rate_limit_and_garbage_are_counted_not_fatal():
    async def main():
        config = UaConfig(
            user="bob",
            display_name="",
            local_host="127.0.0.1",
            local_port=free_udp_port(),
        )
        bob = SipEndpoint(
            UserAgent(config), TransportConfig(rate_per_second=1.0, burst=5.0)
        )
        await bob.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(20):
                sock.sendto(b"\x00garbage\r\n\r\n", ("127.0.0.1", config.local_port))
            async with asyncio.timeout(5):
                while bob.stats.datagrams_in < 20:
                    await asyncio.sleep(0.01)
        assert bob.stats.rate_limited >= 14
        assert bob.ua.stats.malformed_dropped == 20 - bob.stats.rate_limited
        await bob.close()

    asyncio.run(main())
