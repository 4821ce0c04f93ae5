"""The "drained" receive mode: once the call is secure with audio on, the RTP socket is read at the
20 ms tick instead of waking the loop per packet; kernel arrival stamps keep the jitter buffer's
and RTCP's arrival times true; everything the socket carries is still handled, in order."""

from __future__ import annotations

import asyncio
import os
import select
import struct
import time

import numpy as np
import pytest

from deskphone.devices.audio import FileAudio, NullAudio
from deskphone.media.rtcp import ReceiverReport, ReportBlock, build_receiver_report
from deskphone.media.srtp import SrtpContext
from deskphone.media.stream import MediaStream
from deskphone.media.stun import MAGIC_COOKIE
from tests.media.audio_math import dominant_frequency, tone
from tests.media.test_stream import A_KEYS, B_KEYS, PCMU, ManualClock, run_async

ZRTP_PING = bytes.fromhex("10000001") + b"ZRTP" + bytes(8)  # RFC 6189 §5 header: magic cookie
PEER_SSRC = 0x5EED


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append(data)


async def open_secure_stream(clock=None, *, rtcp_mux: bool = True):
    """Stream B, secure with audio on, facing a raw peer that protects with A's keys."""
    stream = await MediaStream.open("127.0.0.1", audio=NullAudio(8000), clock=clock)
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    peer_port = transport.get_extra_info("sockname")[1]
    stream.start(("127.0.0.1", peer_port), PCMU, dtmf_pt=101, rtcp_mux=rtcp_mux)
    stream.set_srtp(B_KEYS)
    stream.enable_audio(True)
    return stream, transport, peer, SrtpContext(A_KEYS)


def rtp(sequence: int, timestamp: int, payload: bytes = bytes(160), pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, sequence, timestamp, PEER_SSRC) + payload


def stun_request() -> bytes:
    return (0x0001).to_bytes(2, "big") + bytes(2) + MAGIC_COOKIE.to_bytes(4, "big") \
        + os.urandom(12)


def wait_readable(stream: MediaStream) -> None:
    assert stream._transport.rtp_socket is not None
    readable, _, _ = select.select([stream._transport.rtp_socket.fileno()], [], [], 2.0)
    assert readable, "nothing reached the stream's RTP socket on loopback within 2 s"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def spy_on_jitter_buffer(stream: MediaStream) -> list[tuple[int, float]]:
    """(RTP timestamp, arrival) of every payload the jitter buffer is given."""
    calls: list[tuple[int, float]] = []
    jitter = stream._jitter
    assert jitter is not None
    put = jitter.put_payload

    def recording(ssrc, timestamp, payload, now, duration):
        calls.append((timestamp, now))
        return put(ssrc, timestamp, payload, now, duration)

    jitter.put_payload = recording  # type: ignore[method-assign]
    return calls


@run_async
async def test_drained_only_while_secure_with_audio_on_and_packets_wait_for_the_tick():
    clock = ManualClock()
    stream = await MediaStream.open("127.0.0.1", audio=NullAudio(8000), clock=clock)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    zrtp: list[bytes] = []
    stream.on_zrtp = lambda packet, source: zrtp.append(packet)
    try:
        assert stream.stats.receive_mode == "reader"
        stream.start(("127.0.0.1", transport.get_extra_info("sockname")[1]), PCMU,
                     dtmf_pt=None, send_audio=False)
        stream.set_srtp(B_KEYS)  # keys, but ZRTP has not turned audio on yet
        assert stream.stats.receive_mode == "reader"
        # reader mode: a ZRTP message is handled as soon as the loop sees it, no tick needed
        transport.sendto(ZRTP_PING, ("127.0.0.1", stream.local_port))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if zrtp:
                break
        assert len(zrtp) == 1
        stream.enable_audio(True)
        assert stream.stats.receive_mode == "drained"
        # drained: the datagram sits in the socket, the loop does not wake the stream for it
        transport.sendto(ZRTP_PING, ("127.0.0.1", stream.local_port))
        wait_readable(stream)
        await settle()
        assert len(zrtp) == 1
        clock.now += 0.020
        stream.tick()
        assert len(zrtp) == 2
        stream.enable_audio(False)  # audio off again (e.g. the owner mutes the path)
        assert stream.stats.receive_mode == "reader"
        transport.sendto(ZRTP_PING, ("127.0.0.1", stream.local_port))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(zrtp) == 3:
                break
        assert len(zrtp) == 3
    finally:
        transport.close()
        await stream.close()


@run_async
async def test_cleartext_audio_stays_reader_driven():
    clock = ManualClock()
    stream = await MediaStream.open("127.0.0.1", audio=NullAudio(8000), clock=clock)
    try:
        stream.allow_cleartext()
        stream.start(("127.0.0.1", 9), PCMU, dtmf_pt=None, send_audio=True)
        assert stream.stats.receive_mode == "reader"
    finally:
        await stream.close()


@run_async
async def test_a_burst_is_handled_in_one_tick_in_arrival_order():
    clock = ManualClock()
    stream, transport, peer, protect = await open_secure_stream(clock)
    zrtp: list[bytes] = []
    stream.on_zrtp = lambda packet, source: zrtp.append(packet)
    given = spy_on_jitter_buffer(stream)
    try:
        target = ("127.0.0.1", stream.local_port)
        sequence_order = [0, 1, 2, 4, 3, 5, 6, 7, 8, 9]  # one reordered pair on the way
        for n, seq in enumerate(sequence_order):
            transport.sendto(protect.protect(rtp(seq, 1000 + 160 * seq)), target)
            if n == 4:
                transport.sendto(ZRTP_PING, target)
                transport.sendto(stun_request(), target)
        block = ReportBlock(stream.ssrc, 64, 3, 1000, 80, 0, 0)
        transport.sendto(protect.protect_rtcp(build_receiver_report(
            ReceiverReport(PEER_SSRC, (block,)))), target)  # rtcp-mux: on the RTP port
        wait_readable(stream)
        await settle()
        assert stream.stats.packets_received == 0 and not zrtp and not peer.received
        clock.now += 0.020
        stream.tick()
        stats = stream.stats
        assert stats.packets_received == 10
        assert [ts for ts, _ in given] == [1000 + 160 * seq for seq in sequence_order]
        assert len(zrtp) == 1 and stats.stun_answered == 1
        assert stats.remote_lost == 3  # the multiplexed receiver report, SRTCP-unprotected
        assert stats.srtp_auth_failures == 0 and stats.malformed == 0
        await settle()
        answers = [d for d in peer.received if d[:2] == b"\x01\x01"]  # STUN success (RFC 5389)
        assert len(answers) == 1
        clock.now += 0.020
        stream.tick()  # EAGAIN at once: nothing new, nothing counted twice
        assert stream.stats.packets_received == 10
    finally:
        transport.close()
        await stream.close()


@run_async
async def test_arrival_times_are_the_kernel_stamps_not_the_tick():
    """Packets sent at different (real) times and read together at one tick reach the jitter
    buffer with their own arrival times, spaced as they were sent; with the tick's time they would
    all be equal (20 ms of false jitter on a 20 ms-spaced stream)."""
    clock = ManualClock()
    stream, transport, _, protect = await open_secure_stream(clock)
    given = spy_on_jitter_buffer(stream)
    try:
        sent_between: list[tuple[float, float]] = []
        for seq in range(4):
            before = time.time()
            transport.sendto(protect.protect(rtp(seq, 160 * seq)), ("127.0.0.1", stream.local_port))
            sent_between.append((before, time.time()))
            await asyncio.sleep(0.005)  # spread the arrivals in real time
        wait_readable(stream)
        clock.now += 0.020
        read_before = time.time()
        stream.tick()
        read_after = time.time()
        arrivals = [arrival for _, arrival in given]
        assert len(arrivals) == 4
        # arrival = clock at the read - (realtime at the read - kernel stamp), and the stamp lies
        # within its sendto: so every arrival is bounded by the send window, shifted to the clock
        # the kernel's and our CLOCK_REALTIME reads may disagree a little on a VM (another CPU)
        skew = 0.002
        for arrival, (before, after) in zip(arrivals, sent_between, strict=True):
            assert clock.now - (read_after - before) - skew <= arrival
            assert arrival <= clock.now - (read_before - after) + skew
        for (a0, (_, after0)), (a1, (before1, _)) in zip(
                zip(arrivals, sent_between, strict=True),
                zip(arrivals[1:], sent_between[1:], strict=True), strict=False):
            # spaced about as far apart as they were sent (5 ms sleeps: never all equal, as the
            # tick's time would make them)
            assert a1 - a0 >= before1 - after0 - skew and before1 - after0 > 0.004
    finally:
        transport.close()
        await stream.close()


@run_async
async def test_replays_and_forgeries_are_counted_while_drained():
    clock = ManualClock()
    stream, transport, _, protect = await open_secure_stream(clock)
    try:
        target = ("127.0.0.1", stream.local_port)
        packet = protect.protect(rtp(1, 160))
        forged = bytearray(protect.protect(rtp(2, 320)))
        forged[20] ^= 0x01  # one payload bit: the HMAC no longer matches (RFC 3711 §3.3)
        for data in (packet, packet, bytes(forged)):
            transport.sendto(data, target)
        wait_readable(stream)
        clock.now += 0.020
        stream.tick()
        stats = stream.stats
        assert stats.packets_received == 1
        assert stats.srtp_replays == 1 and stats.srtp_auth_failures == 1
    finally:
        transport.close()
        await stream.close()


@run_async
async def test_the_rtcp_port_keeps_its_reader_while_the_rtp_port_is_drained():
    clock = ManualClock()
    stream, transport, _, protect = await open_secure_stream(clock, rtcp_mux=False)
    loop = asyncio.get_running_loop()
    rtcp_peer, _ = await loop.create_datagram_endpoint(
        Peer, local_addr=("127.0.0.1", 0))
    try:
        assert stream.stats.receive_mode == "drained" and stream.local_rtcp_port is not None
        block = ReportBlock(stream.ssrc, 64, 5, 1000, 80, 0, 0)
        report = protect.protect_rtcp(build_receiver_report(ReceiverReport(PEER_SSRC, (block,))))
        rtcp_peer.sendto(report, ("127.0.0.1", stream.local_rtcp_port))
        for _ in range(200):  # no tick: the reader handles it
            await asyncio.sleep(0.005)
            if stream.stats.remote_lost:
                break
        assert stream.stats.remote_lost == 5
    finally:
        rtcp_peer.close()
        transport.close()
        await stream.close()


def _uvloop_or_skip():
    import uvloop  # a pinned dependency: the phone runs on it

    return uvloop


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_self_ticking_secure_streams_drain_at_their_ticks(tmp_path, loop_kind):
    """The production set-up: streams ticking themselves (timerfd) on the app's loop; once
    secure, both read at ticks, and the tone arrives whole."""
    source = tmp_path / "in.raw"
    source.write_bytes(tone(800.0, 8000, 16000).tobytes())

    async def call() -> tuple:
        a_audio = FileAudio(8000, capture_file=source)
        b_audio = FileAudio(8000, playback_file=tmp_path / "out.raw")
        a = await MediaStream.open("127.0.0.1", audio=a_audio)
        b = await MediaStream.open("127.0.0.1", audio=b_audio)
        try:
            a.start(("127.0.0.1", b.local_port), PCMU, dtmf_pt=None, send_audio=True)
            b.start(("127.0.0.1", a.local_port), PCMU, dtmf_pt=None, send_audio=True)
            a.set_srtp(A_KEYS)
            b.set_srtp(B_KEYS)
            assert a._ticker is not None and a._ticker.kind == "timerfd"

            async def enough() -> None:
                while b.stats.packets_received < 40:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(enough(), 10.0)
            return a.stats, b.stats
        finally:
            await a.close()
            await b.close()
            a_audio.close()
            b_audio.close()

    if loop_kind == "uvloop":
        uvloop = _uvloop_or_skip()
        a_stats, b_stats = uvloop.run(asyncio.wait_for(call(), 30))
    else:
        a_stats, b_stats = asyncio.run(asyncio.wait_for(call(), 30))
    assert a_stats.receive_mode == b_stats.receive_mode == "drained"
    assert b_stats.srtp_auth_failures == 0 and b_stats.dropped_foreign == 0
    out = np.frombuffer((tmp_path / "out.raw").read_bytes(), dtype="<i2")
    assert abs(dominant_frequency(out[-1600:], 8000) - 800.0) < 10.0



@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_one_loop_wake_up_per_frame_once_secure(loop_kind):
    """Issue 19's guard (a count, not a time): in a secure call with audio on, the event loop
    wakes for a stream at most once per 20 ms tick: the ticker's wake-up, with capture, send,
    receive and playout done in it. A cleartext call (socket readers on) is the control: there
    every received packet is a wake-up of its own, so the count does see a second one."""

    async def call(secure: bool) -> tuple[tuple[int, int], tuple[int, int], int]:
        a = await MediaStream.open("127.0.0.1", audio=NullAudio(8000))
        b = await MediaStream.open("127.0.0.1", audio=NullAudio(8000))
        try:
            for stream, peer in ((a, b), (b, a)):
                if not secure:
                    stream.allow_cleartext()
                stream.start(("127.0.0.1", peer.local_port), PCMU, dtmf_pt=None, send_audio=True)
            if secure:
                a.set_srtp(A_KEYS)
                b.set_srtp(B_KEYS)

            async def received(count: int) -> None:
                while b.stats.packets_received < count:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(received(10), 10.0)  # both ticking, past the first packets
            before_a, before_b = a.loop_wakeups, b.loop_wakeups
            packets = b.stats.packets_received
            await asyncio.wait_for(received(packets + 50), 10.0)
            after_a, after_b = a.loop_wakeups, b.loop_wakeups
            return ((after_a[0] - before_a[0], after_a[1] - before_a[1]),
                    (after_b[0] - before_b[0], after_b[1] - before_b[1]),
                    b.stats.packets_received - packets)
        finally:
            await a.close()
            await b.close()

    def run(secure: bool):
        if loop_kind == "uvloop":
            return _uvloop_or_skip().run(asyncio.wait_for(call(secure), 30))
        return asyncio.run(asyncio.wait_for(call(secure), 30))

    (wakeups_a, ticks_a), (wakeups_b, ticks_b), packets = run(secure=True)
    assert packets >= 50 and ticks_a >= 40 and ticks_b >= 40
    assert wakeups_a <= ticks_a and wakeups_b <= ticks_b, (
        f"a secure stream woke the loop more than once per tick: A {wakeups_a} wake-ups in "
        f"{ticks_a} ticks, B {wakeups_b} in {ticks_b}")
    (_, _), (wakeups_b, ticks_b), packets = run(secure=False)
    assert wakeups_b >= ticks_b + packets // 2, (  # the control: readers add one per packet
        f"cleartext: {wakeups_b} wake-ups in {ticks_b} ticks for {packets} packets")
