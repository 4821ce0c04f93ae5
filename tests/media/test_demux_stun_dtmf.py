"""RFC 7983 demultiplexing, RFC 5389 STUN answers, RFC 4733 DTMF send/receive."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib

import pytest

from deskphone.media.demux import PacketKind, classify
from deskphone.media.dtmf import DtmfReceiver, DtmfSender
from deskphone.media.rtcp import ReceiverReport, build_receiver_report
from deskphone.media.rtp import RtpPacket
from deskphone.media.stun import (
    ATTR_FINGERPRINT,
    ATTR_MESSAGE_INTEGRITY,
    ATTR_XOR_MAPPED_ADDRESS,
    MAGIC_COOKIE,
    answer_binding_request,
    decode_xor_mapped_address,
    parse_attributes,
)


def binding_request(txid: bytes, attributes: bytes = b"") -> bytes:
    return struct.pack("!HHI12s", 1, len(attributes), MAGIC_COOKIE, txid) + attributes


@pytest.mark.parametrize(
    ("datagram", "kind"),
    [
        (binding_request(b"t" * 12), PacketKind.STUN),
        (bytes.fromhex("1000000a5a525450") + bytes(8), PacketKind.ZRTP),
        (RtpPacket(0, 1, 2, 3).serialize(), PacketKind.RTP),
        (RtpPacket(127, 1, 2, 3, marker=True).serialize(), PacketKind.RTP),
        (build_receiver_report(ReceiverReport(1)), PacketKind.RTCP),
        (bytes([22, 254, 253]), PacketKind.UNKNOWN),  # DTLS
        (bytes([0x40, 0]), PacketKind.UNKNOWN),  # TURN channel
        (b"\x80", PacketKind.UNKNOWN),
        (b"", PacketKind.UNKNOWN),
    ],
)
def test_rfc7983_first_byte(datagram, kind):
    assert classify(datagram) is kind


def test_binding_request_answered_with_xor_mapped_address_and_fingerprint():
    txid = os.urandom(12)
    response = answer_binding_request(binding_request(txid), ("127.0.0.1", 40000))
    assert response is not None
    assert struct.unpack_from("!HHI12s", response)[0] == 0x0101
    assert response[8:20] == txid
    attributes = dict(parse_attributes(response))
    assert decode_xor_mapped_address(attributes[ATTR_XOR_MAPPED_ADDRESS], txid) == (
        "127.0.0.1", 40000)
    (crc,) = struct.unpack("!I", attributes[ATTR_FINGERPRINT])
    assert crc == (zlib.crc32(response[:-8]) ^ 0x5354554E) & 0xFFFFFFFF


def test_ipv6_source_and_message_integrity_with_short_term_password():
    txid = os.urandom(12)
    request = binding_request(txid, struct.pack("!HH", ATTR_MESSAGE_INTEGRITY, 20) + bytes(20))
    response = answer_binding_request(request, ("::1", 5004), password=b"icepwd")
    attributes = dict(parse_attributes(response))
    assert decode_xor_mapped_address(attributes[ATTR_XOR_MAPPED_ADDRESS], txid) == ("::1", 5004)
    mi_at = response.index(struct.pack("!HH", ATTR_MESSAGE_INTEGRITY, 20))
    header = bytearray(response[:mi_at])
    struct.pack_into("!H", header, 2, mi_at - 20 + 24)
    expected = hmac.new(b"icepwd", bytes(header), hashlib.sha1).digest()
    assert attributes[ATTR_MESSAGE_INTEGRITY] == expected


def test_unknown_comprehension_required_attribute_gets_420():
    txid = os.urandom(12)
    response = answer_binding_request(
        binding_request(txid, struct.pack("!HH", 0x7777, 4) + b"abcd"), ("127.0.0.1", 1))
    assert struct.unpack_from("!H", response)[0] == 0x0111
    attributes = dict(parse_attributes(response))
    assert attributes[0x0009][2:4] == bytes([4, 20])
    assert attributes[0x000A] == b"\x77\x77"


@pytest.mark.parametrize(
    "datagram",
    [b"", bytes(19), binding_request(b"x" * 12) + b"\xff",
     struct.pack("!HHI12s", 0x0101, 0, MAGIC_COOKIE, b"r" * 12),  # a response: no answer
     struct.pack("!HHI12s", 1, 0, 0xDEADBEEF, b"r" * 12),  # RFC 3489 cookie-less
     struct.pack("!HHI12s", 1, 8, MAGIC_COOKIE, b"r" * 12) + struct.pack("!HH", 1, 40)],
)
def test_not_a_binding_request_is_ignored(datagram):
    assert answer_binding_request(datagram, ("127.0.0.1", 9)) is None


def _drive(sender: DtmfSender, ticks: int, start_ts: int = 1000):
    packets = []
    for i in range(ticks):
        packet = sender.next_packet(start_ts + 160 * i, 160)
        if packet is not None:
            packets.append(packet)
    return packets


def test_dtmf_sender_packets_follow_rfc4733():
    sender = DtmfSender(8000)
    sender.press("5")
    packets = _drive(sender, 20)
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert {p.timestamp for p in packets} == {1000}
    events = [struct.unpack("!BBH", p.payload) for p in packets]
    assert [e[0] for e in events] == [5] * 7
    assert [e[1] >> 7 for e in events] == [0, 0, 0, 0, 1, 1, 1]
    assert [e[2] for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert not sender.busy


def test_dtmf_round_trip_several_keys_with_retransmitted_ends():
    sender, receiver = DtmfSender(8000), DtmfReceiver()
    for key in "1*#D0":
        sender.press(key)
    got = []
    for seq, packet in enumerate(_drive(sender, 60)):
        rtp = RtpPacket(101, seq, packet.timestamp, 42, payload=packet.payload,
                        marker=packet.marker)
        key = receiver.receive(rtp)
        if key:
            got.append(key)
    assert "".join(got) == "1*#D0"


def test_dtmf_receiver_survives_lost_first_packet_and_junk():
    receiver = DtmfReceiver()
    assert receiver.receive(RtpPacket(101, 1, 500, 1, payload=b"\x07\x0a\x01\x40")) == "7"
    assert receiver.receive(RtpPacket(101, 2, 500, 1, payload=b"\x07\x8a\x03\x20")) is None
    assert receiver.receive(RtpPacket(101, 3, 900, 1, payload=b"\x07")) is None
    assert receiver.malformed == 1
    assert receiver.receive(RtpPacket(101, 4, 900, 1, payload=b"\x10\x0a\x00\xa0")) is None


def test_unknown_dtmf_key_named():
    with pytest.raises(ValueError, match="'x'"):
        DtmfSender(8000).press("x")
