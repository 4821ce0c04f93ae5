"""Media-port fuzz targets: RTP, RTCP, STUN, RFC 4733 events, the jitter buffer, demux.

Documented exceptions: `parse_rtp` raises `RtpError`, `parse_rtcp` raises `RtcpError`; the
demultiplexer, `answer_binding_request`, `DtmfReceiver.receive`, `RtcpSession.receive_rtcp` and
the jitter buffer raise nothing for any datagram.
"""

from __future__ import annotations

from deskphone.media.demux import PacketKind, classify
from deskphone.media.dtmf import DtmfReceiver
from deskphone.media.jitterbuffer import FrameKind, JitterBuffer
from deskphone.media.rtcp import RtcpError, RtcpSession, parse_rtcp
from deskphone.media.rtp import RtpError, RtpPacket, parse_rtp
from deskphone.media.stun import BINDING_SUCCESS, HEADER, answer_binding_request, parse_attributes
from deskphone_tools.fuzz.harness import Reader, Target, split_messages

SEPARATOR = b"\n=====\n"


def fuzz_rtp(data: bytes) -> None:
    """One datagram as the media port sees it: demultiplexed, parsed, written back."""
    kind = classify(data)
    assert isinstance(kind, PacketKind)
    packet = parse_rtp(data)
    again = parse_rtp(packet.serialize())
    # RFC 3550 §5.1: what parses re-serializes to the same fields (padding length kept).
    assert (again.payload_type, again.sequence, again.timestamp, again.ssrc, again.payload,
            again.csrcs, again.extension) == (packet.payload_type, packet.sequence,
                                              packet.timestamp, packet.ssrc, packet.payload,
                                              packet.csrcs, packet.extension)


def fuzz_rtcp(data: bytes) -> None:
    """Compound RTCP into a session that has seen some RTP; then its report still builds."""
    session = RtcpSession(ssrc=0x11223344, clock_rate=8000, cname="fuzz@deskphone")
    session.start(0.0)
    session.on_rtp_received(0x55667788, 1, 160, 0.02)
    session.receive_rtcp(data, 1.0)
    session.build_report(1.5)
    session.snapshot()
    parse_rtcp(data)


def fuzz_stun(data: bytes) -> None:
    """A Binding Request (maybe) on the media port, with and without a short-term password."""
    for password in (None, b"pass"):
        answer = answer_binding_request(data, ("192.0.2.7", 40000), password=password)
        if answer is not None:
            # what we send back is itself well-formed STUN (RFC 5389 §6)
            assert parse_attributes(answer) is not None
            assert HEADER.unpack_from(answer)[0] in (BINDING_SUCCESS, 0x0111)
    answer_binding_request(data, ("2001:db8::7", 40000))


def fuzz_dtmf(data: bytes) -> None:
    """RTP packets carrying telephone-events (RFC 4733 §2.3): each key reported once."""
    receiver = DtmfReceiver()
    for raw in split_messages(data, SEPARATOR, 64):
        reader = Reader(raw)
        packet = RtpPacket(101, reader.uint(2), reader.uint(4), reader.uint(1), reader.rest())
        key = receiver.receive(packet)
        assert key is None or key in "0123456789*#ABCD"


def fuzz_jitter_buffer(data: bytes) -> None:
    """A program of arrivals (ssrc, timestamp, duration, payload, arrival time) and ticks."""
    reader = Reader(data)
    clock_rate = (8000, 16000, 48000)[reader.byte() % 3]
    increment = clock_rate // 50
    buffer = JitterBuffer(clock_rate, increment)
    tick = 0.0
    while reader.remaining:
        op = reader.byte()
        if op & 1:
            ssrc = reader.byte() & 3
            ts = reader.uint(4)
            duration = None if op & 2 else reader.uint(2)
            arrival = tick + (reader.byte() - 128) / 1000
            buffer.put_payload(ssrc, ts, reader.chunk(16), arrival, duration)
        else:
            tick += 0.02 * (1 + (op >> 5))
            frames = buffer.pop(tick)
            assert all(isinstance(frame.kind, FrameKind) for frame in frames)
    assert buffer.queued_frames() >= 0
    buffer.delay_ms   # noqa: B018 - the statistics screen reads it


TARGETS = [
    Target("rtp", fuzz_rtp, (RtpError,), max_len=1500),
    Target("rtcp", fuzz_rtcp, (RtcpError,), max_len=1500),
    Target("stun", fuzz_stun, (), max_len=1500,
           tokens=(b"\x21\x12\xa4\x42", b"\x00\x01", b"\x00\x08\x00\x14", b"\x80\x28\x00\x04",
                   b"\x00\x06", b"\x00\x24\x00\x04", b"\x00\x25\x00\x00")),
    Target("dtmf", fuzz_dtmf, (), max_len=2048, tokens=(SEPARATOR,)),
    Target("jitter_buffer", fuzz_jitter_buffer, (), max_len=4096),
]
