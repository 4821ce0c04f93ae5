"""RFC 4566 parsing and serialization."""

from __future__ import annotations

import pytest

from deskphone.sdp import Attribute, SdpError, SessionDescription
from tests.sdp import samples


def test_linphone_offer_parses_with_every_format_and_unknown_attributes_kept() -> None:
    sdp = SessionDescription.parse(samples.LINPHONE_OFFER)
    assert sdp.origin.username == "alice"
    assert sdp.origin.session_id == "2468"
    assert sdp.origin.session_version == 1357
    assert sdp.connection is not None and sdp.connection.address == "127.0.0.1"
    (audio,) = sdp.media
    assert audio.port == 27078 and audio.proto == "RTP/AVP"
    assert audio.payload_types() == [96, 97, 98, 0, 8, 18, 101, 99, 100]
    opus = audio.rtpmap(96)
    assert opus is not None and (opus.encoding, opus.clock_rate, opus.channels) == (
        "opus", 48000, 2)
    assert audio.fmtp(96) == {"useinbandfec": "1"}
    assert audio.fmtp(18) == {"annexb": "yes"}
    # G729 has no rtpmap: RFC 3551's static table supplies it.
    g729 = audio.rtpmap(18)
    assert g729 is not None and g729.encoding == "G729"
    assert audio.attribute_values("rtcp-fb") == ["* trr-int 1000", "* ccm tmmbr"]
    assert sdp.attribute_values("record") == ["off"]
    assert audio.direction(sdp.direction) == "sendrecv"


def test_round_trip_is_line_for_line_identical_for_crlf_input() -> None:
    assert SessionDescription.parse(samples.LINPHONE_OFFER).to_bytes() == samples.LINPHONE_OFFER


def test_lf_input_is_accepted_and_written_back_with_crlf() -> None:
    sdp = SessionDescription.parse(samples.ASTERISK_OFFER)
    assert sdp.to_bytes() == samples.ASTERISK_OFFER.replace(b"\n", b"\r\n")
    assert sdp.media[0].fmtp(101) == {"0-16": ""}


def test_static_payload_types_without_rtpmap_and_media_level_ipv6_connection() -> None:
    sdp = SessionDescription.parse(samples.BARE_STATIC_IPV6_OFFER)
    audio = sdp.media[0]
    assert sdp.connection is None
    assert sdp.media_connection(audio) is not None
    assert sdp.media_connection(audio).addrtype == "IP6"  # type: ignore[union-attr]
    assert [audio.rtpmap(pt).encoding for pt in audio.payload_types()] == [  # type: ignore[union-attr]
        "PCMA", "PCMU"]
    g722 = SessionDescription.parse(samples.ASTERISK_OFFER).media[0].rtpmap(9)
    assert g722 is not None and g722.clock_rate == 8000   # RFC 3551 §4.5.2


def test_media_level_direction_overrides_session_level() -> None:
    sdp = SessionDescription.parse(samples.AUDIO_VIDEO_OFFER)
    assert sdp.direction == "recvonly"
    video, audio = sdp.media
    assert video.direction(sdp.direction) == "recvonly"
    assert audio.direction(sdp.direction) == "sendrecv"


def test_multicast_connection_suffixes() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\n"
    connection = SessionDescription.parse(body).connection
    assert connection is not None
    assert (connection.address, connection.ttl, connection.count) == ("224.2.1.1", 127, 3)
    assert connection.to_line() == "c=IN IP4 224.2.1.1/127/3"


def test_missing_t_line_is_tolerated_and_written_as_t_0_0() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\n"
    assert b"t=0 0\r\n" in SessionDescription.parse(body).to_bytes()


def test_port_zero_stream_needs_no_connection() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
    assert SessionDescription.parse(body).media[0].port == 0


def test_attribute_without_value_is_distinguished_from_empty_value() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=flag\r\na=empty:\r\n"
    assert SessionDescription.parse(body).attributes == (
        Attribute("flag"), Attribute("empty", ""))


BASE = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("body", "expected_in_message"),
    [
        ("", "empty SDP body"),
        ("o=- 1 1 IN IP4 h\r\nv=0\r\n", "v=0"),
        ("v=1\r\n", "v=0"),
        ("v=0\r\ns=-\r\n", "o= as the second line"),
        ("v=0\r\no=- 1 IN IP4 h\r\ns=-\r\n", "o= has 5 fields"),
        ("v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\n", "session id 'x'"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\n", "missing s="),
        (BASE + "m=audio 70000 RTP/AVP 0\r\n", "port '70000'"),
        (BASE + "m=audio 5004 RTP/AVP 128\r\n", "format '128'"),
        (BASE + "m=audio 5004 RTP/AVP pcmu\r\n", "format 'pcmu'"),
        (BASE + "m=audio 5004 RTP/AVP\r\n", "expected m=<media>"),
        (BASE + "a=rtpmap:96 opus\r\n", "a=rtpmap"),
        (BASE + "a=rtpmap:200 opus/48000\r\n", "a=rtpmap"),
        (BASE + "a=ptime:fast\r\n", "a=ptime"),
        (BASE + "a=sendonly:yes\r\n", "takes no value"),
        (BASE + "a=bad name:x\r\n", "attribute name"),
        (BASE + "x=unknown\r\n", "unknown line type 'x'"),
        (BASE + "garbage\r\n", "<type>=<value>"),
        (BASE + "M=audio 1 RTP/AVP 0\r\n", "<type>=<value>"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 999.1.1.1\r\n", "c= address '999.1.1.1'"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP6 1.2.3.4\r\n", "IPv6"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP5 h\r\n", "IP4 or IP6"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n", "no c= line"),
        (BASE + "m=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "not allowed inside a media"),
        (BASE + "m=audio 1 RTP/AVP 0\r\nc=IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.2\r\n", "second c="),
        (BASE + "s=again\r\n", "second s="),
        (BASE + "a=x:\x00\r\n", "control character"),
    ],
)
def test_malformed_descriptions_raise_sdp_error_naming_the_problem(
    body: str, expected_in_message: str
) -> None:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse(body.encode("utf-8"))
    assert expected_in_message in str(caught.value)


def test_error_names_line_number_and_text() -> None:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse((BASE + "m=audio 99999 RTP/AVP 0\r\n").encode())
    assert caught.value.line_number == 6
    assert caught.value.line == "m=audio 99999 RTP/AVP 0"
    assert "SDP line 6" in str(caught.value)


def test_oversized_and_non_utf8_bodies_are_rejected() -> None:
    with pytest.raises(SdpError, match="at most"):
        SessionDescription.parse(BASE.encode() + b"a=x:" + b"y" * 70000 + b"\r\n")
    with pytest.raises(SdpError, match="UTF-8"):
        SessionDescription.parse(BASE.encode() + b"s=\xff\r\n")
    with pytest.raises(SdpError, match="bytes"):
        SessionDescription.parse("v=0")  # type: ignore[arg-type]
