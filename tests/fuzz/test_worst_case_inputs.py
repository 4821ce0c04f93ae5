"""The bench's worst-case inputs are what they claim to be, and are refused or answered as the
limits say (their timings are in `make bench`, section worst_case, never asserted here)."""

from __future__ import annotations

import pytest

from deskphone.sdp import LocalMedia, OfferAnswer, SdpError
from deskphone.sip.message import SipParseError, parse_message
from deskphone_tools.fuzz import worst_case

LOCAL = LocalMedia(address="192.0.2.10", port=40000)


def test_the_5000_header_sip_message_fits_a_datagram_and_is_refused_by_the_header_limit() -> None:
    message = worst_case.sip_message(5000, 60_000)
    assert 50_000 <= len(message) <= 65_535
    assert message.count(b"\r\n") > 5000
    with pytest.raises(SipParseError, match="header fields exceed"):
        parse_message(message)


def test_the_10000_line_sdp_is_refused_and_the_offers_at_the_caps_are_answered() -> None:
    lines = worst_case.sdp_lines(10_000)
    assert lines.count(b"\r\n") >= 10_000 and len(lines) <= 65_535
    with pytest.raises(SdpError):
        OfferAnswer().create_answer(lines, LOCAL)
    for offer in (worst_case.sdp_lines(518), worst_case.sdp_media_sections(32, 60)):
        _, negotiated = OfferAnswer().create_answer(offer, LOCAL)
        assert negotiated.codec is not None and negotiated.codec.name == "PCMU"
