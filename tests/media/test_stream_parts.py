"""The stream's send side (send.py) and SRTP keying (srtp_keying.py) on their own, without sockets."""

from __future__ import annotations

import pytest

from deskphone.media.codecs import create_codec
from deskphone.media.rtp import parse_rtp
from deskphone.media.send import RtpSender
from deskphone.media.srtp_keying import SrtpKeying
from tests.media.test_stream import A_KEYS, B_KEYS, PCMU

SILENCE_8K = bytes(320)  # one 20 ms frame of 16-bit mono at 8 kHz


def _sender() -> RtpSender:
    sender = RtpSender()
    sender.use_codec(create_codec(PCMU), PCMU.payload_type, 8000)
    return sender


def test_consecutive_packets_follow_rfc_3550_and_mark_only_the_talkspurt_start() -> None:
    sender = _sender()
    first = sender.next_packet(SILENCE_8K, True)
    second = sender.next_packet(SILENCE_8K, True)
    assert first is not None and second is not None
    a, b = parse_rtp(first.packet), parse_rtp(second.packet)
    assert a.ssrc == b.ssrc == sender.ssrc and a.payload_type == PCMU.payload_type
    assert b.sequence == (a.sequence + 1) & 0xFFFF
    assert b.timestamp == (a.timestamp + 160) & 0xFFFFFFFF  # 20 ms at 8 kHz
    assert a.marker and not b.marker  # RFC 3551 §4.1
    assert first.payload_length == len(a.payload) == 160 and first.timestamp == a.timestamp


def test_a_silent_tick_keeps_the_timeline_and_marks_the_next_talkspurt() -> None:
    sender = _sender()
    first = sender.next_packet(SILENCE_8K, True)
    assert sender.next_packet(SILENCE_8K, False) is None  # e.g. on hold: nothing built
    resumed = sender.next_packet(SILENCE_8K, True)
    assert first is not None and resumed is not None
    a, c = parse_rtp(first.packet), parse_rtp(resumed.packet)
    assert c.sequence == (a.sequence + 1) & 0xFFFF  # no gap: nothing was sent
    assert c.timestamp == (a.timestamp + 320) & 0xFFFFFFFF  # the media clock went on
    assert c.marker


def test_a_pressed_key_goes_out_as_a_telephone_event_and_without_one_it_is_refused() -> None:
    sender = _sender()
    with pytest.raises(RuntimeError, match="telephone-event"):
        sender.press("5")
    sender.use_dtmf(101, 8000)
    sender.press("5")
    out = sender.next_packet(SILENCE_8K, True)
    assert out is not None
    packet = parse_rtp(out.packet)
    assert packet.payload_type == 101 and packet.payload[0] == 5  # RFC 4733 §2.3 event code


def test_the_same_keys_keep_their_context_and_sending_never_steps_back() -> None:
    keying = SrtpKeying()
    assert keying.receive_with(A_KEYS)  # a ZRTP initiator before Conf2ACK (RFC 6189 §4.6)
    context = keying.context
    assert context is not None and not keying.secure
    keying.send_with(A_KEYS)
    assert keying.context is context and keying.secure  # RFC 3711 §9.1: no second context
    assert keying.contexts_built == 1
    assert not keying.receive_with(B_KEYS)  # already sending: nothing changes
    assert keying.context is context and keying.contexts_built == 1
    keying.send_with(B_KEYS)  # really new keys: a new context
    assert keying.context is not context and keying.contexts_built == 2
