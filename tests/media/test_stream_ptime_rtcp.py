"""MediaStream against a raw UDP peer: packets of 10-60 ms play as continuous audio, and RTCP
goes to the RTP port (a=rtcp-mux, RFC 5761) or to port + 1 (RFC 3550 §11) as negotiated."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest

from deskphone.devices.audio import FileAudio
from deskphone.media.codecs import create_codec
from deskphone.media.demux import PacketKind, classify
from deskphone.media.rtcp import (
    RTCP_SR,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    build_receiver_report,
    parse_rtcp,
)
from deskphone.media.stream import MediaStream, bind_rtp_rtcp_pair
from deskphone.sdp.codecs import CodecChoice
from tests.media.audio_math import dominant_frequency, tone, tone_snr_db
from tests.media.test_stream import ManualClock, run_async

PCMU = CodecChoice("PCMU", 0, 8000)
OPUS = CodecChoice("opus", 111, 48000, 2)
G722 = CodecChoice("G722", 9, 8000)


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append(data)


async def open_peer():
    """A raw peer on an RTP/RTCP port pair, as a phone without rtcp-mux would use."""
    loop = asyncio.get_running_loop()
    rtp_sock, rtcp_sock = bind_rtp_rtcp_pair("127.0.0.1")
    assert rtcp_sock is not None
    rtp, rtp_peer = await loop.create_datagram_endpoint(Peer, sock=rtp_sock)
    rtcp, rtcp_peer = await loop.create_datagram_endpoint(Peer, sock=rtcp_sock)
    return rtp, rtp_peer, rtcp, rtcp_peer


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def packets_of(codec_spec: CodecChoice, ms: int, pcm: np.ndarray) -> list[tuple[int, bytes]]:
    """Encode `pcm` (at the codec rate) into `ms`-long payloads: (timestamp offset, payload)."""
    codec = create_codec(codec_spec)
    frame = codec.frame_samples
    frames = [codec.encode(pcm[i : i + frame].tobytes()) for i in range(0, len(pcm), frame)]
    per_unit = codec.sample_rate // codec_spec.clock_rate
    samples = codec.sample_rate * ms // 1000
    if codec_spec.name == "opus":
        # RFC 6716 §3.2.2/§3.2.3: code 1 packs two equal-size (CBR) frames under one TOC
        assert ms == 40 and len({len(f) for f in frames}) == 1
        payloads = [bytes((frames[i][0] | 0x01,)) + frames[i][1:] + frames[i + 1][1:]
                    for i in range(0, len(frames) - 1, 2)]
    else:
        # G.711 and G.722 are sample/octet streams: any split of the octets is a valid packet
        stream = b"".join(frames)
        size = samples // per_unit * len(frames[0]) // (frame // per_unit)
        payloads = [stream[i : i + size] for i in range(0, len(stream), size)]
    return [(k * samples // per_unit, p) for k, p in enumerate(payloads)]


@pytest.mark.parametrize(("spec", "ms"), [
    (PCMU, 10), (PCMU, 30), (PCMU, 40), (PCMU, 60), (G722, 40), (OPUS, 40),
])
@run_async
async def test_peer_packets_of_any_multiple_of_10_ms_play_continuously(tmp_path, spec, ms):
    rate = create_codec(spec).sample_rate
    seconds = 1.2
    pcm = tone(1004.0, rate, int(rate * seconds))
    packets = packets_of(spec, ms, pcm)
    clock = ManualClock()
    out_file = tmp_path / "out.raw"
    audio = FileAudio(rate, playback_file=out_file)
    stream = await MediaStream.open("127.0.0.1", audio=audio, clock=clock)
    rtp, _peer, rtcp, _rtcp_peer = await open_peer()
    try:
        peer_port = rtp.get_extra_info("sockname")[1]
        stream.allow_cleartext()
        stream.start(("127.0.0.1", peer_port), spec, dtmf_pt=None, send_audio=True)
        sent = 0
        for step in range(int(seconds * 100) + 20):  # 10 ms steps; the stream ticks every 20
            if step * 10 % ms == 0 and sent < len(packets):
                ts, payload = packets[sent]
                header = struct.pack("!BBHII", 0x80, spec.payload_type, sent, 5000 + ts, 0xBEEF)
                rtp.sendto(header + payload, ("127.0.0.1", stream.local_port))
                sent += 1
            await settle()
            clock.now += 0.010
            if step % 2:
                stream.tick()
    finally:
        await stream.close()
        rtp.close()
        rtcp.close()
        audio.close()
    received = np.frombuffer(out_file.read_bytes(), dtype="<i2")
    start = np.flatnonzero(np.abs(received) > 1000)[0]
    # the whole tone, minus codec start-up (and the concealment fade after its end)
    steady = received[start + rate // 10 : start + len(pcm) - rate // 50]
    assert len(steady) == len(pcm) - rate // 10 - rate // 50
    assert abs(dominant_frequency(steady, rate) - 1004.0) < 10.0
    assert tone_snr_db(steady, 1004.0, rate) > (20.0 if spec is not OPUS else 12.0)
    jb = stream._jitter.stats
    assert jb.late == 0 and jb.malformed == 0
    assert stream.stats.concealed <= 3  # the fade-out after the last packet, nothing within


@pytest.mark.parametrize("rtcp_mux", [True, False])
@run_async
async def test_rtcp_goes_to_the_rtp_port_or_port_plus_one(rtcp_mux):
    clock = ManualClock()
    stream = await MediaStream.open("127.0.0.1", audio=FileAudio(8000), clock=clock)
    rtp, rtp_peer, rtcp, rtcp_peer = await open_peer()
    try:
        assert stream.local_port % 2 == 0 and stream.local_rtcp_port == stream.local_port + 1
        peer_port = rtp.get_extra_info("sockname")[1]
        stream.allow_cleartext()
        stream.start(("127.0.0.1", peer_port), PCMU, dtmf_pt=None, send_audio=True,
                     rtcp_mux=rtcp_mux)
        for _ in range(200):  # 4 s: the first report is due within 3.75 s (RFC 3550 §6.2)
            clock.now += 0.020
            stream.tick()
            await settle()
        on_rtp_port = [classify(d) for d in rtp_peer.received]
        reports = rtcp_peer.received if not rtcp_mux else [
            d for d in rtp_peer.received if classify(d) is PacketKind.RTCP]
        assert reports, "no RTCP report sent"
        first = parse_rtcp(reports[0])[0]
        assert isinstance(first, SenderReport) and reports[0][1] == RTCP_SR
        assert first.ssrc == stream.ssrc and first.packet_count > 0
        if not rtcp_mux:
            assert PacketKind.RTCP not in on_rtp_port  # RTP port carries RTP only
            assert on_rtp_port.count(PacketKind.RTP) == 200
        # the peer's receiver report comes back from its RTCP port (or its RTP port when muxed)
        block = ReportBlock(stream.ssrc, 64, 3, 1000, 80, 0, 0)
        report = build_receiver_report(ReceiverReport(0xBEEF, (block,)))
        source, target = (rtp, stream.local_port) if rtcp_mux else (rtcp, stream.local_rtcp_port)
        source.sendto(report, ("127.0.0.1", target))
        for _ in range(20):
            await asyncio.sleep(0.001)
            if stream.stats.remote_lost:
                break
        assert stream.stats.remote_lost == 3 and stream.stats.remote_fraction_lost == 0.25
        assert stream.stats.dropped_foreign == 0
    finally:
        await stream.close()
        rtp.close()
        rtcp.close()


@run_async
async def test_rtcp_port_drops_strangers():
    clock = ManualClock()
    stream = await MediaStream.open("127.0.0.1", audio=FileAudio(8000), clock=clock)
    loop = asyncio.get_running_loop()
    stranger, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.2", 0))
    try:
        stream.allow_cleartext()
        stream.start(("127.0.0.1", 9), PCMU, dtmf_pt=None, rtcp_mux=False)
        block = ReportBlock(stream.ssrc, 64, 3, 1000, 80, 0, 0)
        stranger.sendto(build_receiver_report(ReceiverReport(1, (block,))),
                        ("127.0.0.1", stream.local_rtcp_port))
        for _ in range(50):
            await asyncio.sleep(0.001)
            if stream.stats.dropped_foreign:
                break
        assert stream.stats.dropped_foreign == 1 and stream.stats.remote_lost == 0
    finally:
        stranger.close()
        await stream.close()
