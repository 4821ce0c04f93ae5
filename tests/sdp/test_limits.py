"""What one offer may carry, and how much work answering it costs (issue 21 item 1).

A peer's offer with 15,000 formats and 1,600 rtpmap lines once kept `create_answer` busy for 40 s
(formats x rtpmaps lookups). Now every offer over a limit is refused with `SdpError` (the call
layer answers 488), and the work within the limits is counted, not timed: the number of rtpmap
parses grows linearly with the offer. Timings per size are in `make bench`.
"""

from __future__ import annotations

import pytest

from deskphone.sdp import LocalMedia, OfferAnswer, SdpError, SessionDescription
from deskphone.sdp import fields as sdp_fields
from deskphone.sdp.session import (
    MAX_ATTRIBUTES_PER_SECTION,
    MAX_FORMATS_PER_MEDIA,
    MAX_MEDIA_DESCRIPTIONS,
    MAX_SDP_BYTES,
    MAX_SDP_LINES,
)

LOCAL = LocalMedia(address="192.0.2.10", port=40000)
HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def offer_with(formats: int, rtpmaps: int, *, common_codec_last: bool = True) -> bytes:
    """An audio offer of unknown codecs on payload types 1.., then PCMU (static 0), the only
    usable one; the rtpmaps come in the m= line's order, so a lookup per format scans far."""
    assert formats < 128 and rtpmaps < 128
    numbers = [str(1 + i) for i in range(formats)]
    if common_codec_last:
        numbers.append("0")
    lines = [f"m=audio 5004 RTP/AVP {' '.join(numbers)}"]
    lines += [f"a=rtpmap:{1 + i} x-unknown{i}/8000" for i in range(rtpmaps)]
    lines += [f"a=fmtp:{1 + i} a={i}" for i in range(rtpmaps)]
    return (HEAD + "\r\n".join(lines) + "\r\n").encode()


def test_the_issue_21_offer_is_refused_with_sdp_error_naming_the_limit() -> None:
    # 15,000 one-digit formats and 1,600 rtpmaps: under 64 KB, one INVITE over TCP
    offer = (HEAD + "m=audio 5004 RTP/AVP " + " ".join("5" * 15_000) + "\r\n"
             + "a=rtpmap:5 DVI4/8000\r\n" * 1_600).encode()
    assert len(offer) <= MAX_SDP_BYTES
    with pytest.raises(SdpError, match=f"15000 formats, expected at most {MAX_FORMATS_PER_MEDIA}"):
        OfferAnswer().create_answer(offer, LOCAL)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HEAD + "m=audio 5004 RTP/AVP " + " ".join(["0"] * (MAX_FORMATS_PER_MEDIA + 1)),
         "formats, expected at most"),
        (HEAD + "m=audio 5004 RTP/AVP 0\r\n" + "a=x\r\n" * (MAX_ATTRIBUTES_PER_SECTION + 1),
         "a= lines in one media description"),
        (HEAD + "a=x\r\n" * (MAX_ATTRIBUTES_PER_SECTION + 1),
         "a= lines in one session description"),
        (HEAD + "m=audio 0 RTP/AVP 0\r\n" * (MAX_MEDIA_DESCRIPTIONS + 1),
         "media descriptions"),
        (HEAD + ("m=audio 0 RTP/AVP 0\r\n" + "a=x\r\n" * 119) * 20, "lines in one SDP body"),
        (HEAD + "a=" + "x" * MAX_SDP_BYTES, "bytes, expected at most"),
    ],
    ids=["formats", "media-attributes", "session-attributes", "media-sections", "lines", "bytes"],
)
def test_offers_over_each_limit_raise_sdp_error(body: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        SessionDescription.parse(body.encode())
    with pytest.raises(SdpError, match=message):
        OfferAnswer().create_answer(body.encode(), LOCAL)


def test_offers_at_the_limits_are_accepted() -> None:
    at_limit = (HEAD + "m=audio 5004 RTP/AVP " + " ".join(["0"] * MAX_FORMATS_PER_MEDIA)
                + "\r\n" + "a=x\r\n" * MAX_ATTRIBUTES_PER_SECTION)
    assert len(at_limit.split("\r\n")) < MAX_SDP_LINES
    _, negotiated = OfferAnswer().create_answer(at_limit.encode(), LOCAL)
    assert negotiated.codec is not None and negotiated.codec.name == "PCMU"


def rtpmap_parses(offer: bytes, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many times answering `offer` parses an a=rtpmap value: the unit of work that used to
    be repeated for every format."""
    calls = 0
    real = sdp_fields.parse_rtpmap

    def counting(value: str | None):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(value)

    # the parser and the m= section's rtpmap index both call it through the `fields` module
    monkeypatch.setattr(sdp_fields, "parse_rtpmap", counting)
    _, negotiated = OfferAnswer().create_answer(offer, LOCAL)
    assert negotiated.codec is not None and negotiated.codec.name == "PCMU"
    return calls


def test_answer_work_grows_linearly_with_formats_and_rtpmaps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = rtpmap_parses(offer_with(30, 30), monkeypatch)
    large = rtpmap_parses(offer_with(120, 120), monkeypatch)
    # 4x the formats and 4x the rtpmaps: linear work is ~4x, the old formats x rtpmaps was 16x.
    assert large <= 5 * small, (small, large)
    # and in absolute terms: each rtpmap line is parsed a small constant number of times
    assert large <= 3 * 120, large
