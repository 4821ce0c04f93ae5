"""Packet durations from payloads (RFC 3551 §4.5, RFC 6716 §3.1) and the G.711 encode tables
built by bisection agreeing with the per-sample encoder everywhere."""

from __future__ import annotations

import pytest

from deskphone.media.codecs import create_codec
from deskphone.media.codecs.g711 import (
    ALAW_ENCODE,
    ULAW_ENCODE,
    G711Codec,
    _alaw_encode_sample,
    _ulaw_encode_sample,
)
from deskphone.media.codecs.opus import packet_samples
from deskphone.sdp.codecs import CodecChoice


@pytest.mark.parametrize(("table", "encode"), [(ULAW_ENCODE, _ulaw_encode_sample),
                                               (ALAW_ENCODE, _alaw_encode_sample)])
def test_g711_encode_table_matches_the_sample_encoder_on_all_65536_inputs(table, encode):
    assert table == bytes(encode(i if i < 0x8000 else i - 0x10000) for i in range(0x10000))


def test_g711_encode_of_one_sample_and_of_a_frame():
    codec = G711Codec(alaw=False)
    assert codec.encode(bytes(2)) == b"\xff"
    assert codec.encode((1000).to_bytes(2, "little", signed=True) * 160) == bytes(
        [_ulaw_encode_sample(1000)]) * 160


@pytest.mark.parametrize(("name", "octets", "units"), [
    ("PCMU", 80, 80), ("PCMA", 320, 320), ("G722", 480, 480),  # 10, 40, 60 ms at 8 kHz RTP
])
def test_sample_codecs_count_one_timestamp_unit_per_octet(name, octets, units):
    codec = create_codec(CodecChoice(name, 0, 8000))
    assert codec.payload_duration(bytes(octets)) == units
    assert codec.payload_duration(b"") is None


@pytest.mark.parametrize(("payload", "samples"), [
    (bytes([15 << 3 | 0]) + bytes(59), 960),           # hybrid FB 20 ms, one frame
    (bytes([15 << 3 | 1]) + bytes(80), 1920),          # code 1: two equal frames, 40 ms
    (bytes([2 << 3 | 0]) + bytes(40), 1920),           # SILK 40 ms frame
    (bytes([3 << 3 | 3, 2]) + bytes(60), 5760),        # code 3: two 60 ms SILK frames
    (bytes([16 << 3 | 3, 48]) + bytes(10), 5760),      # 48 CELT 2.5 ms frames = 120 ms
    (bytes([19 << 3 | 2]) + bytes(30), 1920),          # code 2: two CELT 20 ms frames
])
def test_opus_packet_durations_from_the_toc(payload, samples):
    assert packet_samples(payload) == samples


@pytest.mark.parametrize("payload", [b"", bytes([3]), bytes([3, 0]), bytes([3 << 3 | 3, 3])])
def test_opus_malformed_or_over_120_ms_has_no_duration(payload):
    assert packet_samples(payload) is None
