"""Bad input and protocol errors: dropped and counted, or answered with the right Error (§5.9)."""

from __future__ import annotations

import logging

import pytest

from deskphone.zrtp import NotSecure, Secure, packets
from deskphone.zrtp.algorithms import CIPHERS, HASHES
from deskphone.zrtp.session import State

from .bzrtp_vectors import EXCHANGE
from .harness import Endpoint, make_endpoint, run


def rewrite(datagram: bytes, change) -> bytes:
    """Apply change(message: bytearray) and re-frame with a valid CRC (an active attacker)."""
    packet = packets.decode_packet(datagram)
    message = bytearray(packet.message)
    change(message)
    return packets.encode_packet(packet.sequence_number, packet.ssrc, bytes(message))


def kind(datagram: bytes) -> bytes:
    return datagram[16:24]


def tamper(kind_block: bytes, change, sender: str | None = None):
    def wire(who, datagram):
        if kind(datagram) == kind_block and sender in (None, who):
            return [rewrite(datagram, change)]
        return [datagram]
    return wire


def errors_sent(endpoint: Endpoint) -> list[int]:
    return [int.from_bytes(d[24:28], "big") for d in endpoint.sent if kind(d) == b"Error   "]


def final(endpoint):
    return endpoint.events[-1]


def test_garbage_is_dropped_and_counted_without_changing_state():
    a = make_endpoint("a")
    a.session.start(0.0)
    hello = a.session.datagrams_to_send(0.0)[0]
    b = make_endpoint("b")
    b.session.start(0.0)
    for cut in range(1, len(hello)):
        b.session.receive_datagram(hello[:cut], 0.0)  # truncated
    b.session.receive_datagram(hello + b"\x00" * 1600, 0.0)  # oversized
    b.session.receive_datagram(hello[:-1] + bytes([hello[-1] ^ 0xFF]), 0.0)  # bad CRC
    b.session.receive_datagram(b"\x80" + b"\x00" * 171, 0.0)  # RTP, not ZRTP
    b.session.receive_datagram(rewrite(hello, lambda m: m.__setitem__(slice(4, 12),
                                                                        b"Bogus   ")), 0.0)
    stats = b.session.stats
    assert stats.dropped_crc >= 1 and stats.dropped_malformed >= 1
    assert stats.dropped_crc + stats.dropped_malformed == stats.received
    assert b.session.state is State.DISCOVERY and b.session.next_event() is None


def test_out_of_order_message_is_dropped():
    a = make_endpoint("a")
    a.session.start(0.0)
    dhpart2 = next(raw for name, _, _, raw in EXCHANGE if name == "DHPart2")
    confirm2 = next(raw for name, _, _, raw in EXCHANGE if name == "Confirm2")
    a.session.receive_datagram(dhpart2, 0.0)
    a.session.receive_datagram(confirm2, 0.0)
    assert a.session.stats.dropped_unexpected == 2
    assert a.session.state is State.DISCOVERY


def test_replayed_packets_after_secure_change_nothing():
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b)
    events_before = list(a.events)
    for datagram in b.sent:
        a.session.receive_datagram(datagram, 200.0)
    a.drain_events()
    assert a.events == events_before and a.session.state is State.SECURE
    assert a.session.stats.duplicates >= len(b.sent) - 2


def test_packets_from_another_call_are_rejected():
    a1, b1 = make_endpoint("a"), make_endpoint("b")
    run(a1, b1)
    a2, _b2 = make_endpoint("a"), make_endpoint("b")
    a2.session.start(0.0)
    for datagram in b1.sent[1:]:  # all but the old Hello: Commit, DHPart, Confirm...
        a2.session.receive_datagram(datagram, 0.0)
    a2.drain_events()
    assert a2.session.state is not State.SECURE
    assert not any(isinstance(e, Secure) for e in a2.events)


def test_hello_with_a_bad_mac_is_caught_when_the_commit_reveals_h2():
    wire = tamper(b"Hello   ", lambda m: m.__setitem__(-1, m[-1] ^ 1), sender="b")
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=wire)
    assert a.session.stats.dropped_mac >= 1
    assert not isinstance(final(a), Secure) and not isinstance(final(b), Secure)


def test_wrong_hash_chain_is_dropped_and_counted():
    wire = tamper(b"Hello   ", lambda m: m.__setitem__(40, m[40] ^ 1), sender="b")  # H3
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=wire)
    assert a.session.stats.dropped_hash_chain >= 1
    assert isinstance(final(a), NotSecure) and not isinstance(final(b), Secure)


def test_tampered_dhpart2_fails_the_hvi_check_with_error_0x62():
    wire = tamper(b"DHPart2 ", lambda m: m.__setitem__(80, m[80] ^ 1))  # the public value
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=wire)
    responder = a if a.session.role == "responder" else b
    initiator = b if responder is a else a
    assert errors_sent(responder) and errors_sent(responder)[0] == packets.ERROR_HVI_MISMATCH
    assert isinstance(final(responder), NotSecure)
    assert isinstance(final(initiator), NotSecure)
    assert "0x62" in final(initiator).reason


@pytest.mark.parametrize("bad_value", [1, 0, "p-1"])
def test_degenerate_dh_public_value_gets_error_0x61(bad_value):
    from deskphone.zrtp.algorithms import _MODP_3072
    value = _MODP_3072 - 1 if bad_value == "p-1" else bad_value

    def change(message):
        message[76:-8] = value.to_bytes(384, "big")
    wire = tamper(b"DHPart1 ", change)
    a, b = make_endpoint("a", key_agreements=("DH3k",)), make_endpoint("b",
                                                                       key_agreements=("DH3k",))
    run(a, b, wire=wire)
    initiator = a if a.session.role == "initiator" else b
    assert errors_sent(initiator) == [packets.ERROR_BAD_PUBLIC_VALUE] * len(errors_sent(initiator))
    assert isinstance(final(a), NotSecure) and isinstance(final(b), NotSecure)


def test_ecdh_point_not_on_the_curve_is_refused():
    wire = tamper(b"DHPart1 ", lambda m: m.__setitem__(-9, m[-9] ^ 1))  # corrupt y
    a, b = make_endpoint("a", key_agreements=("EC25",)), make_endpoint("b",
                                                                       key_agreements=("EC25",))
    run(a, b, wire=wire)
    assert isinstance(final(a), NotSecure) and isinstance(final(b), NotSecure)


def test_older_version_gets_error_0x30_newer_waits_for_fallback():
    old = tamper(b"Hello   ", lambda m: m.__setitem__(slice(12, 16), b"1.00"), sender="b")
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=old)
    assert errors_sent(a)[:1] == [packets.ERROR_UNSUPPORTED_VERSION]
    assert isinstance(final(a), NotSecure)

    newer = tamper(b"Hello   ", lambda m: m.__setitem__(slice(12, 16), b"2.00"), sender="b")
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=newer)
    assert a.session.stats.dropped_version >= 1
    assert not isinstance(final(a), Secure)


def test_equal_zids_get_error_0x90():
    a = make_endpoint("a")
    b = make_endpoint("b", a.cache)
    run(a, b)
    assert packets.ERROR_EQUAL_ZID in errors_sent(a) + errors_sent(b)
    assert isinstance(final(a), NotSecure) and isinstance(final(b), NotSecure)


def test_sdp_zrtp_hash_is_enforced():
    a, b = make_endpoint("a"), make_endpoint("b")
    a.session.set_peer_hello_hash(b.session.hello_hash())
    b.session.set_peer_hello_hash(a.session.hello_hash())
    run(a, b)
    assert isinstance(final(a), Secure) and isinstance(final(b), Secure)
    assert a.session.hello_hash().startswith("1.10 ") and len(a.session.hello_hash()) == 69

    a, b = make_endpoint("a"), make_endpoint("b")
    other = make_endpoint("other")
    a.session.set_peer_hello_hash(other.session.hello_hash())  # a Hello not from b
    run(a, b)
    assert a.session.stats.dropped_hello_hash >= 1
    assert isinstance(final(a), NotSecure) and not isinstance(final(b), Secure)
    with pytest.raises(ValueError, match="zrtp-hash"):
        a.session.set_peer_hello_hash("1.10 nothex")


def test_commit_to_an_algorithm_we_do_not_offer_gets_the_matching_error():
    def no_hello_ack_for_a(who, datagram):  # a never commits, so b's Commit decides
        return [] if who == "b" and kind(datagram) == b"HelloACK" else [datagram]

    def wire(who, datagram):
        if who == "b" and kind(datagram) == b"Commit  ":
            datagram = rewrite(datagram, lambda m: m.__setitem__(slice(60, 64), b"2FS3"))
        return no_hello_ack_for_a(who, datagram)
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=wire)
    assert errors_sent(a)[:1] == [packets.ERROR_CIPHER_UNSUPPORTED]
    assert isinstance(final(a), NotSecure) and isinstance(final(b), NotSecure)


def secure_pair() -> tuple[Endpoint, Endpoint]:
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b)
    assert a.session.state is State.SECURE and b.session.state is State.SECURE
    return a, b


def sender_keys(endpoint: Endpoint) -> tuple[bytes, bytes]:
    keys = endpoint.session._handshake.keys
    if endpoint.session.role == "initiator":
        return keys.mac_key_initiator, keys.zrtp_key_initiator
    return keys.mac_key_responder, keys.zrtp_key_responder


def test_goclear_is_refused_and_forged_goclear_dropped():
    a, b = secure_pair()
    mac_key, _ = sender_keys(b)
    hash_name = final(a).hash
    forged = packets.encode_packet(1, 1, packets.GoClear(b"\x00" * 8).encode())
    a.session.receive_datagram(forged, 300.0)
    assert a.session.stats.dropped_mac == 1 and a.session.datagrams_to_send(300.0) == []
    authentic = packets.GoClear(HASHES[hash_name].hmac(mac_key, b"GoClear ")[:8]).encode()
    a.session.receive_datagram(packets.encode_packet(2, 1, authentic), 300.0)
    replies = a.session.datagrams_to_send(300.0)
    assert [int.from_bytes(r[24:28], "big") for r in replies] == [
        packets.ERROR_GOCLEAR_NOT_ALLOWED]
    assert a.session.state is State.SECURE and a.session.stats.goclear_refused == 1


def test_sasrelay_from_a_peer_that_is_not_an_enrolled_pbx_is_refused():
    a, b = secure_pair()
    mac_key, zrtp_key = sender_keys(b)
    choice = final(a)
    plaintext = b"\x00" * 4 + b"B32 " + b"\x11" * 32
    iv = b"\x22" * 16
    encrypted = CIPHERS[choice.cipher].cfb_encrypt(zrtp_key, iv, plaintext)
    relay = packets.SasRelay(HASHES[choice.hash].hmac(mac_key, encrypted)[:8], iv, encrypted)
    a.session.receive_datagram(packets.encode_packet(5, 1, relay.encode()), 300.0)
    replies = a.session.datagrams_to_send(300.0)
    assert [int.from_bytes(r[24:28], "big") for r in replies] == [packets.ERROR_UNTRUSTED_MITM]
    assert a.session.stats.sasrelay_refused == 1 and a.session.next_event() is None


def test_ping_is_answered_with_pingack():
    a = make_endpoint("a")
    a.session.start(0.0)
    a.session.datagrams_to_send(0.0)
    ping = packets.Ping("1.10", b"\x01" * 8).encode()
    a.session.receive_datagram(packets.encode_packet(9, 0xABCDEF01, ping), 0.0)
    (reply,) = a.session.datagrams_to_send(0.0)
    ack = packets.parse_message(packets.decode_packet(reply).message)
    assert isinstance(ack, packets.PingAck)
    assert ack.received_endpoint_hash == b"\x01" * 8 and ack.received_ssrc == 0xABCDEF01


def test_peer_error_is_acknowledged_and_reported():
    a = make_endpoint("a")
    a.session.start(0.0)
    a.session.datagrams_to_send(0.0)
    error = packets.ErrorMessage(packets.ERROR_SERVICE_UNAVAILABLE).encode()
    a.session.receive_datagram(packets.encode_packet(3, 7, error), 0.0)
    (reply,) = a.session.datagrams_to_send(0.0)
    assert kind(reply) == b"ErrorACK"
    a.drain_events()
    assert isinstance(final(a), NotSecure) and "0xa0" in final(a).reason


def test_no_sas_or_key_in_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="deskphone")
    a, _b = secure_pair()
    event = final(a)
    text = repr(event) + repr(event.srtp) + caplog.text + repr(a.session.stats)
    assert event.sas not in text
    for secret in (event.srtp.local_key, event.srtp.remote_key, event.srtp.local_salt):
        assert secret.hex() not in text and repr(secret) not in text
