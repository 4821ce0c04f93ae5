"""RTP (RFC 3550 §5) and RTCP (RFC 3550 §6, Appendix A) parse/build, statistics, RTT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskphone.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpSession,
    SenderReport,
    SourceDescription,
    build_bye,
    build_receiver_report,
    build_sdes,
    build_sender_report,
    parse_rtcp,
)
from deskphone.media.rtp import (
    RtpError,
    RtpHeaderExtension,
    RtpPacket,
    parse_rtp,
    seq_delta,
)


def test_minimal_packet_bytes():
    packet = RtpPacket(0, 0x1234, 0xDECAFBAD, 0xCAFEBABE, payload=b"\xab" * 4, marker=True)
    assert packet.serialize().hex() == "80801234decafbadcafebabeabababab"
    assert parse_rtp(packet.serialize()) == packet


def test_csrc_extension_and_padding_round_trip():
    packet = RtpPacket(
        96, 65535, 2**32 - 1, 1, payload=b"opus", csrcs=(10, 20),
        extension=RtpHeaderExtension(0xBEDE, b"\x10\xff\x00\x00"), padding=3,
    )
    data = packet.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2
    assert data[-1] == 3
    parsed = parse_rtp(data)
    assert parsed == packet
    assert parsed.payload == b"opus"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x00", "shorter than the 12-octet header"),
        (bytes.fromhex("40001234decafbadcafebabe"), "version 1"),
        (bytes.fromhex("83001234decafbadcafebabe00000001"), "3 CSRCs"),
        (bytes.fromhex("90001234decafbadcafebabe"), "before the extension header"),
        (bytes.fromhex("90001234decafbadcafebabebede0002abcd"), "runs past the end"),
        (bytes.fromhex("a0001234decafbadcafebabe0000"), "padding count is 0"),
        (bytes.fromhex("a0001234decafbadcafebabe0009"), "padding count 9"),
    ],
)
def test_malformed_rtp_rejected_with_reason(data, message):
    with pytest.raises(RtpError, match=message):
        parse_rtp(data)


@given(st.binary(max_size=80))
def test_parse_never_raises_anything_but_rtp_error(data):
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert parse_rtp(packet.serialize()) == packet


def test_sequence_arithmetic_wraps():
    assert seq_delta(0, 65535) == 1
    assert seq_delta(65535, 0) == -1
    assert seq_delta(100, 90) == 10


def test_rtcp_compound_round_trip():
    block = ReportBlock(0xAABBCCDD, 25, -3, 70000, 123, 0x11112222, 65536)
    sr = SenderReport(1, 0x0102030405060708, 160, 50, 8000, (block,))
    data = (
        build_sender_report(sr)
        + build_sdes(SourceDescription(1, "alice@deskphone"))
        + build_bye(Goodbye((1,)))
    )
    assert parse_rtcp(data) == [sr, SourceDescription(1, "alice@deskphone"), Goodbye((1,))]
    rr = ReceiverReport(9, (block,))
    assert parse_rtcp(build_receiver_report(rr)) == [rr]


@pytest.mark.parametrize(
    "data",
    [b"\x80\xc8", bytes.fromhex("81c90007deadbeef"), bytes.fromhex("40c90001deadbeef"),
     bytes.fromhex("80c90001deadbeef00")],
)
def test_malformed_rtcp_rejected(data):
    with pytest.raises(RtcpError):
        parse_rtcp(data)


def _exchange(a: RtcpSession, b: RtcpSession, now: float, delay: float) -> None:
    b.receive_rtcp(a.build_report(now), now + delay)


def test_loss_jitter_and_rtt_between_two_sessions():
    a = RtcpSession(0xA, 8000, "a@x")
    b = RtcpSession(0xB, 8000, "b@x")
    one_way = 0.030
    now = 100.0
    lost = {5, 6, 50}
    for i in range(100):
        a.on_rtp_sent(160 * i, 160, now)
        if i not in lost:
            # alternate ±2 ms arrival variation: |D| = 4 ms = 32 units between neighbours
            b.on_rtp_received(0xA, 1000 + i, 160 * i, now + one_way + (0.002 if i % 2 else -0.002))
        b.on_rtp_sent(160 * i, 160, now)
        a.on_rtp_received(0xB, 7 + i, 160 * i, now + one_way)
        now += 0.020
    _exchange(a, b, now, one_way)  # A's SR reaches B
    now += 1.0
    _exchange(b, a, now, one_way)  # B's SR with a report block about A, DLSR = 1 s - 30 ms
    snap_b = b.snapshot()
    assert snap_b.packets_received == 97
    assert snap_b.packets_lost == 3
    assert 3.0 < snap_b.jitter_ms < 4.5
    snap_a = a.snapshot()
    assert snap_a.remote_packets_lost == 3
    assert snap_a.remote_fraction_lost == pytest.approx(3 / 100, abs=1 / 256)
    assert snap_a.rtt_ms == pytest.approx(60.0, abs=0.1)


def test_sequence_wrap_counts_cycles_not_loss():
    b = RtcpSession(0xB, 8000, "b")
    for i in range(10):
        b.on_rtp_received(0xA, (65530 + i) & 0xFFFF, 160 * i, 0.02 * i)
    assert b.source is not None
    assert b.source.extended_max == 65536 + 3
    assert b.snapshot().packets_lost == 0


def test_timer_sends_sr_then_rr_when_silent():
    a = RtcpSession(0xA, 8000, "a")
    a.start(0.0)
    first = a.get_timer()
    assert first is not None and 1.25 <= first <= 3.75
    assert a.handle_timer(first - 0.001) is None
    a.on_rtp_sent(0, 160, first - 0.5)
    report = a.handle_timer(first)
    assert isinstance(parse_rtcp(report)[0], SenderReport)
    second = a.get_timer()
    assert second is not None and 2.5 <= second - first <= 7.5
    assert isinstance(parse_rtcp(a.handle_timer(second))[0], ReceiverReport)


def test_garbage_rtcp_counted():
    a = RtcpSession(0xA, 8000, "a")
    a.receive_rtcp(b"\x81\xc9\x00\x07", 0.0)
    assert a.malformed == 1
