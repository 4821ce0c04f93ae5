"""Symmetric RTP latching (RFC 4961 §5, issue 14 item 3): for a peer without ICE the stream moves
its remote address to where the peer's *authenticated* media comes from, never on any packet.

The peer's SDP names an address it does not send from (a NAT in between, here simply port 9):
its first SRTP packet that passes authentication moves B's media there; a forged packet, a replay
from another source, or anything while latching is off (an ICE pair) moves nothing and is
counted. Before keys, only the ZRTP Hello the plug-in vouches for (the SDP's a=zrtp-hash) latches.
"""

from __future__ import annotations

import asyncio
import os

from deskphone.media.rtp import FIXED_HEADER, PLAIN_V2
from deskphone.media.srtp import SrtpContext
from deskphone.media.stream import MediaStream
from tests.media.test_stream import A_KEYS, B_KEYS, PCMU, ManualClock, _pair, run_async, tick_until

NOWHERE = ("127.0.0.1", 9)


async def _probe() -> tuple[asyncio.DatagramTransport, asyncio.Queue[bytes]]:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    return transport, received


def _srtp_from_a(sequence: int) -> bytes:
    rtp = FIXED_HEADER.pack(PLAIN_V2, 0, sequence, 160 * sequence, 0x1234) + bytes(160)
    return SrtpContext(A_KEYS).protect(rtp)


async def _keyed(tmp_path, *, latching: bool) -> tuple[MediaStream, MediaStream, ManualClock]:
    clock = ManualClock()
    a, b, _, _ = await _pair(tmp_path, PCMU, 8000, 1.0, clock)
    a.start(("127.0.0.1", b.local_port), PCMU, dtmf_pt=None, send_audio=True)
    b.start(NOWHERE, PCMU, dtmf_pt=None, send_audio=True)  # what A's SDP said
    a.set_srtp(A_KEYS)
    b.set_srtp(B_KEYS)
    b.enable_latching(latching)
    return a, b, clock


@run_async
async def test_latches_on_the_first_authenticated_packet_and_media_flows_back(tmp_path):
    a, b, clock = await _keyed(tmp_path, latching=True)
    try:
        await tick_until([a, b], clock, lambda: b.stats.latched > 0)
        assert b.remote == ("127.0.0.1", a.local_port)
        assert b.stats.latched == 1 and b.stats.dropped_foreign == 0
        await tick_until([a, b], clock, lambda: a.stats.packets_received > 10)  # B -> A now
    finally:
        await a.close()
        await b.close()


@run_async
async def test_forged_and_replayed_packets_from_elsewhere_never_latch(tmp_path):
    clock = ManualClock()
    a, b, _, _ = await _pair(tmp_path, PCMU, 8000, 1.0, clock)
    probe, _ = await _probe()
    other, _ = await _probe()
    try:
        b.start(NOWHERE, PCMU, dtmf_pt=None, send_audio=True)
        b.set_srtp(B_KEYS)
        b.enable_latching(True)
        # forged: RTP-shaped, wrong authentication tag
        probe.sendto(FIXED_HEADER.pack(PLAIN_V2, 0, 1, 160, 0x1234) + os.urandom(170),
                     ("127.0.0.1", b.local_port))
        await tick_until([b], clock, lambda: b.stats.dropped_foreign == 1)
        assert b.remote == NOWHERE and b.stats.latched == 0
        assert b.stats.srtp_auth_failures == 1
        # authentic from `other`: B latches there; the same bytes replayed by `probe` do not move it
        packet = _srtp_from_a(7)
        other.sendto(packet, ("127.0.0.1", b.local_port))
        await tick_until([b], clock, lambda: b.stats.latched == 1)
        latched_to = b.remote
        probe.sendto(packet, ("127.0.0.1", b.local_port))
        await tick_until([b], clock, lambda: b.stats.dropped_foreign == 2)
        assert b.remote == latched_to and b.stats.latched == 1
        assert b.stats.srtp_replays == 1
    finally:
        probe.close()
        other.close()
        await a.close()
        await b.close()


@run_async
async def test_no_latching_when_off(tmp_path):
    a, b, clock = await _keyed(tmp_path, latching=False)
    try:
        await tick_until([a, b], clock, lambda: b.stats.dropped_foreign > 5)
        assert b.remote == NOWHERE and b.stats.latched == 0 and b.stats.packets_received == 0
    finally:
        await a.close()
        await b.close()


class VouchingPlugin:
    """An encryption plug-in that vouches for one packet (ZRTP: the announced Hello)."""

    def __init__(self, vouched: bytes) -> None:
        self.vouched = vouched
        self.received: list[bytes] = []

    def attach(self, stream) -> None:
        pass

    def receive(self, packet: bytes, source: tuple[str, int]) -> None:
        self.received.append(packet)

    def authenticates(self, packet: bytes) -> bool:
        return packet == self.vouched


@run_async
async def test_before_keys_only_the_vouched_zrtp_hello_latches(tmp_path):
    clock = ManualClock()
    a, b, _, _ = await _pair(tmp_path, PCMU, 8000, 1.0, clock)
    probe, _ = await _probe()
    hello = bytes.fromhex("10000001") + b"ZRTP" + bytes(4) + b"PZ" + os.urandom(14)
    other = bytes.fromhex("10000002") + b"ZRTP" + bytes(4) + b"PZ" + os.urandom(14)
    plugin = VouchingPlugin(hello)
    try:
        b.start(NOWHERE, PCMU, dtmf_pt=None)
        b.set_encryption(plugin)
        b.enable_latching(True)
        probe.sendto(other, ("127.0.0.1", b.local_port))
        await tick_until([b], clock, lambda: b.stats.dropped_foreign == 1)
        assert b.remote == NOWHERE and plugin.received == []
        probe.sendto(hello, ("127.0.0.1", b.local_port))
        await tick_until([b], clock, lambda: b.stats.latched == 1)
        assert b.remote == probe.get_extra_info("sockname") and plugin.received == [hello]
    finally:
        probe.close()
        await a.close()
        await b.close()
