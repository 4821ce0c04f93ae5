"""Numbers in SDP are ASCII digits of bounded length, and bad fmtp values never reach the codec
(issue 21 item 4).

`str.isdigit()` is true for "²" (which `int()` refuses) and `int()` refuses more than 4,300
digits: both used to escape the parser as a plain ValueError. RFC 4566 §9's DIGIT is %x30-39.
"""

from __future__ import annotations

import pytest

from deskphone.media.codecs import create_codec
from deskphone.sdp import LocalMedia, OfferAnswer, SdpError, SessionDescription
from deskphone.sdp.codecs import CodecChoice

HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
AUDIO = "c=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0\r\n"
HUGE = "9" * 4301


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("c=IN IP4 192.0.2.1\r\nm=audio ² RTP/AVP 0", "m= port"),
        ("c=IN IP4 192.0.2.1\r\nm=audio ٥٠٠٤ RTP/AVP 0", "m= port"),
        (f"c=IN IP4 192.0.2.1\r\nm=audio {HUGE} RTP/AVP 0", "m= port"),
        ("c=IN IP4 192.0.2.1\r\nm=audio 5004/² RTP/AVP 0", "m= port count"),
        (f"c=IN IP4 192.0.2.1\r\nm=audio 5004/{HUGE} RTP/AVP 0", "m= port count"),
        ("c=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP ²", "m= format"),
        ("c=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP ٩", "m= format"),
        (f"c=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP {HUGE}", "m= format"),
        ("c=IN IP4 224.2.1.1/²\r\nm=audio 5004 RTP/AVP 0", "c= address suffix"),
        ("c=IN IP4 224.2.1.1/127/²\r\nm=audio 5004 RTP/AVP 0", "c= address suffix"),
        ("c=IN IP6 ff15::101/²\r\nm=audio 5004 RTP/AVP 0", "c= address suffix"),
        (f"c=IN IP4 224.2.1.1/{HUGE}\r\nm=audio 5004 RTP/AVP 0", "c= address suffix"),
        ("c=IN IP4 224.2.1.1/256\r\nm=audio 5004 RTP/AVP 0", "TTL 256"),
        (AUDIO + "a=rtpmap:٩٦ opus/48000/2", "rtpmap"),
        (AUDIO + "a=ptime:٢٠", "ptime"),
        (AUDIO + "a=ptime:20." + "0" * 5000, "ptime"),
    ],
)
def test_non_ascii_or_oversize_numbers_raise_sdp_error(body: str, message: str) -> None:
    data = (HEAD + body + "\r\n").encode()
    with pytest.raises(SdpError, match=message):
        SessionDescription.parse(data)


def test_non_ascii_times_raise_sdp_error() -> None:
    with pytest.raises(SdpError, match="t="):
        SessionDescription.parse(
            ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=² 0\r\n" + AUDIO).encode())


def test_plain_multicast_ttl_and_count_still_parse() -> None:
    parsed = SessionDescription.parse(
        (HEAD + "c=IN IP4 224.2.1.1/127/3\r\nm=audio 5004/2 RTP/AVP 0\r\n").encode())
    assert parsed.connection is not None
    assert (parsed.connection.ttl, parsed.connection.count) == (127, 3)
    assert parsed.media[0].port_count == 2


def opus_offer(fmtp: str) -> bytes:
    return (HEAD + "c=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 96\r\n"
            "a=rtpmap:96 opus/48000/2\r\n" f"a=fmtp:96 {fmtp}\r\n").encode()


@pytest.mark.parametrize(
    ("fmtp", "kept"),
    [
        ("maxaveragebitrate=x;useinbandfec=1", {"useinbandfec": "1"}),
        ("maxaveragebitrate=²", {}),
        (f"maxaveragebitrate={HUGE}", {}),
        ("maxaveragebitrate=5999", {}),            # RFC 7587 §6.1: outside 6000-510000, ignored
        ("maxaveragebitrate=20000;cbr=1", {"maxaveragebitrate": "20000", "cbr": "1"}),
        ("cbr=yes;usedtx=2;stereo=1", {"stereo": "1"}),
        ("maxplaybackrate=16000;x-vendor=q", {"maxplaybackrate": "16000", "x-vendor": "q"}),
    ],
)
def test_malformed_opus_fmtp_values_are_dropped_at_negotiation(
    fmtp: str, kept: dict[str, str]
) -> None:
    _, negotiated = OfferAnswer().create_answer(
        opus_offer(fmtp), LocalMedia(address="192.0.2.10", port=40000))
    assert negotiated.codec is not None and negotiated.codec.name == "opus"
    assert negotiated.codec.fmtp == kept
    # what the call layer hands the media stream builds a codec (no ValueError at media start)
    create_codec(negotiated.codec)


@pytest.mark.parametrize("bitrate", ["x", "²", HUGE, "-1"])
def test_create_codec_ignores_a_malformed_opus_bitrate(bitrate: str) -> None:
    codec = create_codec(CodecChoice("opus", 96, 48000, 2, {"maxaveragebitrate": bitrate}))
    assert codec.name == "opus"
