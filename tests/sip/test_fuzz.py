"""hypothesis: the parser and the UA core never raise on arbitrary or mutated input."""

from __future__ import annotations

import pathlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskphone.sip.message import SipParseError, StreamFramer, parse_message
from deskphone.sip.useragent import UaConfig, UserAgent

SEEDS = [
    p.read_bytes()
    for p in sorted((pathlib.Path(__file__).parent / "torture").glob("*.sip"))
]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == 1:
            data[pos:pos] = draw(st.binary(max_size=20))
        elif op == 2 and data:
            data[pos] = draw(st.integers(0, 255))
        else:
            data[pos:pos] = draw(
                st.sampled_from(
                    [b"\r\n", b";", b",", b'"', b"<", b">", b":", b" ", b"%"]
                )
            )
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(mutated(), st.binary(max_size=300)))
def test_parser_raises_only_parse_errors(data):
    try:
        parse_message(data)
    except SipParseError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(mutated(), min_size=1, max_size=4))
def test_user_agent_never_raises_and_counts_what_it_drops(data):
    ua = UserAgent(
        UaConfig(user="u", display_name="", local_host="192.0.2.1", local_port=5060)
    )
    now = 0.0
    for item in data:
        ua.receive_datagram(item, ("192.0.2.9", 5060), now)
        ua.datagrams_to_send(now)
        timer = ua.get_timer()
        if timer is not None:
            now = timer
            ua.handle_timer(now)
        while ua.next_event() is not None:
            pass


def _valid_messages() -> list[bytes]:
    out = []
    for seed in SEEDS:
        try:
            out.append(parse_message(seed).serialize())
        except SipParseError:
            continue
    return out[:5]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(1, 400), max_size=12))
def test_stream_framer_reassembles_any_split(cuts):
    messages = _valid_messages()
    stream = b"\r\n\r\n".join(messages)  # RFC 5626 keep-alives between messages
    framer = StreamFramer()
    out: list[bytes] = []
    pos = 0
    for cut in cuts + [len(stream)]:
        out += framer.feed(stream[pos : pos + cut])
        pos += cut
    assert out == messages
