"""Hypothesis fuzzing of the packet parser and of the state machine under an active attacker."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskphone.zrtp import CacheMismatch, Secure, packets

from .harness import make_endpoint, run


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_decoder_raises_only_malformed_packet(data):
    try:
        packet = packets.decode_packet(data)
        packets.parse_message(packet.message)
    except packets.MalformedPacket:
        pass


MESSAGE_TYPES = [b"Hello   ", b"HelloACK", b"Commit  ", b"DHPart1 ", b"DHPart2 ", b"Confirm1",
                 b"Confirm2", b"Conf2ACK", b"Error   ", b"ErrorACK", b"GoClear ", b"ClearACK",
                 b"SASrelay", b"RelayACK", b"Ping    ", b"PingACK "]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(MESSAGE_TYPES), st.integers(0, 140), st.binary(max_size=560))
def test_every_message_type_with_any_body_and_a_valid_crc(type_block, words, body):
    body = (body * (1 + 4 * words // max(1, len(body))))[: 4 * words] if body else bytes(4 * words)
    message = packets.PREAMBLE + (3 + words).to_bytes(2, "big") + type_block + body
    datagram = packets.encode_packet(1, 2, message)
    try:
        parsed = packets.parse_message(packets.decode_packet(datagram).message)
    except packets.MalformedPacket:
        return
    # Whatever parses re-encodes to a message that parses to the same thing (unused bits and
    # flags are not kept, §5.2); conformant messages round-trip byte for byte (known answers).
    assert packets.parse_message(parsed.encode()) == parsed


@st.composite
def attacker(draw):
    """Per datagram: deliver, drop, duplicate, or flip one bit and fix the CRC."""
    return draw(st.lists(st.tuples(st.sampled_from(["deliver", "drop", "dup", "flip"]),
                                   st.integers(12, 2000), st.integers(0, 7)), max_size=40))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(attacker())
def test_state_machine_under_attack_never_crashes_or_agrees_on_different_keys(actions):
    moves = iter(actions)

    def wire(sender, datagram):
        action, position, bit = next(moves, ("deliver", 0, 0))
        if action == "drop":
            return []
        if action == "dup":
            return [datagram, datagram]
        if action == "flip":
            packet = packets.decode_packet(datagram)
            message = bytearray(packet.message)
            index = position % len(message)
            message[index] ^= 1 << bit
            return [packets.encode_packet(packet.sequence_number, packet.ssrc, bytes(message))]
        return [datagram]

    a = make_endpoint("a", key_agreements=("X255",))
    b = make_endpoint("b", key_agreements=("X255",))
    run(a, b, wire=wire, max_steps=5000)
    done_a = [e for e in a.events if isinstance(e, Secure | CacheMismatch)]
    done_b = [e for e in b.events if isinstance(e, Secure | CacheMismatch)]
    if done_a and done_b:
        # Tampering may break the call, but never yields two "secure" sides with different keys.
        assert done_a[0].sas == done_b[0].sas
        assert done_a[0].srtp.local_key == done_b[0].srtp.remote_key
    for endpoint in (a, b):
        assert len([e for e in endpoint.events if isinstance(e, Secure | CacheMismatch)]) <= 1
