"""ZRTP fragmentation (deskphone.zrtp.fragments, bzrtp's layout): DPQ1 under a small MTU."""

from __future__ import annotations

import os

import pytest

from deskphone.zrtp import packets
from deskphone.zrtp.config import ZrtpConfig
from deskphone.zrtp.fragments import (
    MAX_IN_REASSEMBLY,
    Reassembler,
    decode_fragment,
    encode_fragment,
    is_fragment,
    split,
)

from .harness import LossyWire, make_endpoint, run
from .test_handshake import assert_same_call


def a_message(length: int) -> bytes:
    body = os.urandom(length - 12)
    return packets.PREAMBLE + (length // 4).to_bytes(2, "big") + b"Commit  " + body


def fragments_of(message: bytes, mtu: int, message_id: int = 7) -> list[bytes]:
    return [encode_fragment(n, 0x1234, message_id, len(message) // 4, offset, piece)
            for n, (offset, piece) in enumerate(split(message, mtu))]


def reassemble(datagrams: list[bytes], reassembler: Reassembler | None = None) -> list[bytes]:
    reassembler = reassembler or Reassembler()
    out = []
    for datagram in datagrams:
        message = reassembler.add(decode_fragment(datagram))
        if message is not None:
            out.append(message)
    return out


def test_a_message_splits_into_fragments_under_the_mtu_and_reassembles_in_any_order():
    message = a_message(1332)
    pieces = fragments_of(message, 600)
    assert len(pieces) == 3 and all(len(p) <= 600 and is_fragment(p) for p in pieces)
    assert reassemble(pieces) == [message]
    assert reassemble(pieces[::-1]) == [message]
    assert reassemble([pieces[0], pieces[0], pieces[2], pieces[1]]) == [message]  # duplicate


def test_a_bad_crc_is_a_bad_crc_and_contradictions_drop_the_message():
    message = a_message(1332)
    pieces = fragments_of(message, 600)
    broken = bytearray(pieces[1])
    broken[30] ^= 1
    with pytest.raises(packets.BadCrc):
        decode_fragment(bytes(broken))
    reassembler = Reassembler()
    reassembler.add(decode_fragment(pieces[0]))
    other_length = fragments_of(a_message(1200), 600)[1]  # same id, another total length
    with pytest.raises(packets.MalformedPacket, match="earlier ones"):
        reassembler.add(decode_fragment(other_length))
    reassembler.add(decode_fragment(pieces[0]))
    forged = fragments_of(a_message(1332), 600)[0]  # same id and offset, other bytes
    with pytest.raises(packets.MalformedPacket, match="differs"):
        reassembler.add(decode_fragment(forged))
    assert reassemble(pieces, reassembler) == [message]  # the genuine copy starts over


@pytest.mark.parametrize("datagram, match", [
    (b"\x11\x00" + b"\x00" * 10, "shorter"),
    (encode_fragment(1, 2, 3, 2000, 0, b"\x00" * 8), "does not fit"),  # over 4096 bytes
    (encode_fragment(1, 2, 3, 4, 3, b"\x00" * 8), "does not fit"),  # runs past the end
])
def test_malformed_fragments_are_refused(datagram, match):
    with pytest.raises(packets.MalformedPacket, match=match):
        decode_fragment(datagram)


def test_reassembly_holds_a_bounded_number_of_messages():
    reassembler = Reassembler()
    first = fragments_of(a_message(1332), 600, message_id=0)
    reassembler.add(decode_fragment(first[0]))
    for message_id in range(1, MAX_IN_REASSEMBLY + 1):  # the oldest, message 0, is dropped
        reassembler.add(decode_fragment(fragments_of(a_message(1332), 600, message_id)[0]))
    assert reassemble(first[1:], reassembler) == []


def test_the_mtu_has_bzrtps_minimum():
    with pytest.raises(ValueError, match="600"):
        ZrtpConfig(zid=b"z" * 12, mtu=599)


@pytest.mark.parametrize("mtu", [600, 1000, 1280])
def test_dpq1_handshake_fragmented_under_a_small_mtu_gives_the_same_sas(mtu):
    a, b = make_endpoint("a", mtu=mtu), make_endpoint("b", mtu=mtu)
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert ea.key_agreement == "DPQ1"
    assert all(len(d) <= mtu for d in a.sent + b.sent)
    assert a.session.stats.fragments_sent > 0 and b.session.stats.messages_reassembled > 0


def test_fragments_lost_duplicated_and_reordered_are_recovered_by_retransmission():
    for seed in range(8):
        wire = LossyWire(seed, loss=0.15, duplicate=0.1, reorder=0.2)
        a, b = make_endpoint("a", mtu=600), make_endpoint("b", mtu=600)
        run(a, b, wire=wire)
        assert_same_call(a, b)


def test_classical_agreements_never_fragment_even_at_the_minimum_mtu():
    a = make_endpoint("a", mtu=600, key_agreements=("DH3k",))
    b = make_endpoint("b", mtu=600, key_agreements=("DH3k",))
    run(a, b)
    assert_same_call(a, b)
    assert not any(is_fragment(d) for d in a.sent + b.sent)


def test_the_default_mtu_does_not_fragment_dpq1():
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b)
    assert not any(is_fragment(d) for d in a.sent + b.sent)
