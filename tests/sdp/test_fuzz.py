"""The parser never raises anything but SdpError, whatever it is fed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from deskphone.sdp import LocalMedia, OfferAnswer, SdpError, SessionDescription
from tests.sdp import samples

LINE_TYPES = st.sampled_from(list("vosiuepcbtrzkam") + ["x", "V", " "])
FIELD_TEXT = st.text(
    alphabet=st.sampled_from(list("0123456789 ./:-abcdefIPN4 6\t=*") + ["\x00", "é", "\r"]),
    max_size=30,
)
SDP_LINE = st.builds(lambda kind, value: f"{kind}={value}", LINE_TYPES, FIELD_TEXT)


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    lines = seed.split(b"\r\n")
    return st.lists(st.sampled_from(lines), min_size=0, max_size=25).map(b"\r\n".join)


def _parse_only_sdp_errors(data: bytes) -> None:
    try:
        parsed = SessionDescription.parse(data)
    except SdpError:
        return
    # Anything accepted must serialize and re-parse to the same thing.
    assert SessionDescription.parse(parsed.to_bytes()) == parsed


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _parse_only_sdp_errors(data)


@settings(max_examples=400, deadline=None)
@given(st.lists(SDP_LINE, max_size=20))
def test_random_lines(lines: list[str]) -> None:
    _parse_only_sdp_errors(("v=0\r\no=- 1 1 IN IP4 h\r\n" + "\r\n".join(lines)).encode())


@settings(max_examples=300, deadline=None)
@given(_mutations(samples.LINPHONE_OFFER) | _mutations(samples.ASTERISK_OFFER))
def test_shuffled_real_world_lines_through_offer_answer(data: bytes) -> None:
    offer_answer = OfferAnswer(session_id=1)
    try:
        _, negotiated = offer_answer.create_answer(
            data, LocalMedia(address="127.0.0.1", port=4000))
    except SdpError:
        return
    assert negotiated.rejected or negotiated.codec is not None
