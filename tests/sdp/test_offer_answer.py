"""RFC 3264 offer/answer through `OfferAnswer`, against real-world peers' bodies."""

from __future__ import annotations

import pytest

from deskphone.sdp import LocalMedia, OfferAnswer, SdpError, SessionDescription
from tests.sdp import samples

OUR_HASH = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
LOCAL = LocalMedia(address="192.0.2.10", port=40000, zrtp_hash=OUR_HASH)


def answer_to(offer: bytes, local: LocalMedia = LOCAL) -> tuple[SessionDescription, object]:
    body, negotiated = OfferAnswer(session_id=42).create_answer(offer, local)
    return SessionDescription.parse(body), negotiated


# --- answering ------------------------------------------------------------------------------


def test_answer_to_linphone_picks_opus_with_its_payload_type_and_matching_dtmf_clock() -> None:
    answer, negotiated = answer_to(samples.LINPHONE_OFFER)
    assert not negotiated.rejected
    assert negotiated.codec is not None
    assert (negotiated.codec.name, negotiated.codec.payload_type, negotiated.codec.clock_rate,
            negotiated.codec.channels) == ("opus", 96, 48000, 2)
    assert negotiated.codec.fmtp == {"useinbandfec": "1"}
    assert negotiated.dtmf_payload_type == 101            # telephone-event/48000 matches opus
    assert (negotiated.remote_address, negotiated.remote_port) == ("127.0.0.1", 27078)
    assert negotiated.remote_zrtp_hash == samples.ZRTP_HASH
    assert negotiated.remote_zrtp_version == "1.10"
    assert negotiated.direction == "sendrecv"
    (audio,) = answer.media
    assert audio.port == 40000 and audio.proto == "RTP/AVP"
    assert audio.payload_types() == [96, 101]
    assert audio.attribute_values("zrtp-hash") == [f"1.10 {OUR_HASH}"]
    assert audio.attribute_values("ptime") == ["20"]
    assert audio.direction() == "sendrecv"
    assert answer.connection is not None and answer.connection.address == "192.0.2.10"


def test_answer_follows_local_preference_among_offered_codecs() -> None:
    local = LocalMedia(address="192.0.2.10", port=40000, codecs=("PCMA", "PCMU"))
    answer, negotiated = answer_to(samples.LINPHONE_OFFER, local)
    assert negotiated.codec.name == "PCMA" and negotiated.codec.payload_type == 8
    assert negotiated.dtmf_payload_type == 100             # telephone-event/8000 for 8 kHz PCMA
    assert answer.media[0].payload_types() == [8, 100]
    assert answer.media[0].attribute_values("zrtp-hash") == []


def test_answer_to_asterisk_with_lf_line_ends_picks_g722() -> None:
    _, negotiated = answer_to(samples.ASTERISK_OFFER)
    assert negotiated.codec.name == "G722" and negotiated.codec.payload_type == 9
    assert negotiated.codec.clock_rate == 8000
    assert negotiated.dtmf_payload_type == 101
    assert negotiated.remote_ptime == 20
    assert negotiated.remote_zrtp_hash is None


def test_answer_without_dtmf_leaves_telephone_event_out() -> None:
    local = LocalMedia(address="192.0.2.10", port=40000, dtmf=False)
    answer, negotiated = answer_to(samples.ASTERISK_OFFER, local)
    assert negotiated.dtmf_payload_type is None
    assert answer.media[0].payload_types() == [9]


def test_static_types_without_rtpmap_and_ipv6() -> None:
    local = LocalMedia(address="2001:db8::2", port=40000)
    answer, negotiated = answer_to(samples.BARE_STATIC_IPV6_OFFER, local)
    assert negotiated.codec.name == "PCMU"          # our preference, though they listed PCMA first
    assert negotiated.remote_address == "2001:db8::1"
    assert negotiated.dtmf_payload_type is None
    assert answer.connection.addrtype == "IP6"
    assert answer.origin.addrtype == "IP6"


def test_video_stream_refused_with_port_zero_and_m_line_count_kept() -> None:
    answer, negotiated = answer_to(samples.AUDIO_VIDEO_OFFER)
    video, audio = answer.media
    assert (video.media, video.port, video.formats) == ("video", 0, ("31",))
    assert audio.port == 40000
    assert negotiated.codec.name == "PCMU"
    assert negotiated.remote_address == "198.51.100.7"


@pytest.mark.parametrize("offer", [samples.G729_ONLY_OFFER, samples.SDES_ONLY_OFFER])
def test_no_common_codec_or_profile_is_rejected_not_raised(offer: bytes) -> None:
    answer, negotiated = answer_to(offer)
    assert negotiated.rejected and negotiated.codec is None
    assert [m.port for m in answer.media] == [0]


@pytest.mark.parametrize(
    ("offer_direction", "local_direction", "ours"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "sendonly", "sendonly"),
        ("sendonly", "sendonly", "inactive"),
        ("sendrecv", "inactive", "inactive"),
        ("recvonly", "recvonly", "inactive"),
    ],
)
def test_direction_table_of_rfc_3264_section_6_1(
    offer_direction: str, local_direction: str, ours: str
) -> None:
    offer = samples.ASTERISK_OFFER.replace(b"a=sendrecv", b"a=" + offer_direction.encode())
    local = LocalMedia(address="192.0.2.10", port=40000, direction=local_direction)
    answer, negotiated = answer_to(offer, local)
    assert negotiated.direction == ours
    assert answer.media[0].direction() == ours


def test_hold_reoffer_sendonly_then_resume_and_legacy_hold() -> None:
    offer_answer = OfferAnswer(session_id=42)
    first, negotiated = offer_answer.create_answer(samples.ASTERISK_OFFER, LOCAL)
    assert negotiated.direction == "sendrecv"
    held, negotiated = offer_answer.create_answer(samples.HOLD_REOFFER_SENDONLY, LOCAL)
    assert negotiated.direction == "recvonly"
    assert negotiated.codec.name == "PCMU"
    held_again, _ = offer_answer.create_answer(samples.HOLD_REOFFER_SENDONLY, LOCAL)
    legacy, negotiated = offer_answer.create_answer(samples.HOLD_REOFFER_LEGACY, LOCAL)
    assert negotiated.direction == "recvonly"        # c=0.0.0.0: never send to it (§8.4)
    assert not negotiated.may_send and negotiated.may_receive
    versions = [SessionDescription.parse(b).origin.session_version
                for b in (first, held, held_again, legacy)]
    # RFC 3264 §8: +1 per change, unchanged for an identical answer (legacy drops DTMF: change)
    assert versions == [0, 1, 1, 2]


def test_malformed_offer_raises_sdp_error() -> None:
    with pytest.raises(SdpError):
        OfferAnswer().create_answer(b"v=0\r\nnonsense\r\n", LOCAL)


# --- offering -------------------------------------------------------------------------------


def test_offer_lists_codecs_in_preference_order_with_dtmf_for_each_clock_rate() -> None:
    offer = SessionDescription.parse(OfferAnswer(session_id=7).create_offer(LOCAL))
    assert offer.origin.session_id == "7"
    (audio,) = offer.media
    assert audio.payload_types() == [111, 9, 0, 8, 100, 101]
    names = [(audio.rtpmap(pt).encoding, audio.rtpmap(pt).clock_rate)  # type: ignore[union-attr]
             for pt in audio.payload_types()]
    assert names == [("opus", 48000), ("G722", 8000), ("PCMU", 8000), ("PCMA", 8000),
                     ("telephone-event", 48000), ("telephone-event", 8000)]
    assert audio.fmtp(101) == {"0-16": ""}
    assert audio.attribute_values("zrtp-hash") == [f"1.10 {OUR_HASH}"]
    assert audio.direction() == "sendrecv"


def test_offer_then_linphone_style_answer() -> None:
    caller = OfferAnswer(session_id=7)
    callee = OfferAnswer(session_id=8)
    offer = caller.create_offer(LOCAL)
    remote = LocalMedia(address="192.0.2.20", port=50000, codecs=("PCMU",),
                        zrtp_hash="1.10 " + samples.ZRTP_HASH)
    answer, callee_view = callee.create_answer(offer, remote)
    caller_view = caller.receive_answer(answer)
    assert caller_view.codec.name == callee_view.codec.name == "PCMU"
    assert caller_view.dtmf_payload_type == callee_view.dtmf_payload_type == 101
    assert (caller_view.remote_address, caller_view.remote_port) == ("192.0.2.20", 50000)
    assert caller_view.remote_zrtp_hash == samples.ZRTP_HASH
    assert callee_view.remote_zrtp_hash == OUR_HASH
    assert not caller.offer_pending


def test_reoffer_increments_version_only_when_changed_and_keeps_agreed_numbers() -> None:
    caller = OfferAnswer(session_id=7)
    first = SessionDescription.parse(caller.create_offer(LOCAL))
    answer, _ = OfferAnswer(session_id=8).create_answer(
        caller.create_offer(LOCAL), LocalMedia(address="192.0.2.20", port=50000))
    assert caller.receive_answer(answer).codec.payload_type == 111
    refresh = SessionDescription.parse(caller.create_offer(LOCAL))
    hold = SessionDescription.parse(caller.create_offer(
        LocalMedia(address="192.0.2.10", port=40000, zrtp_hash=OUR_HASH, direction="sendonly")))
    assert first.origin.session_version == 0
    assert refresh.origin.session_version == 0            # identical body: same version
    assert hold.origin.session_version == 1               # changed: +1 (RFC 3264 §8)
    assert hold.origin.session_id == first.origin.session_id
    assert hold.media[0].direction() == "sendonly"


def test_reoffer_reuses_payload_type_the_peer_chose() -> None:
    caller = OfferAnswer(session_id=7)
    # The peer offered first with opus as 96 (linphone); later we re-offer: opus must stay 96.
    caller.create_answer(samples.LINPHONE_OFFER, LOCAL)
    reoffer = SessionDescription.parse(caller.create_offer(LOCAL))
    assert reoffer.media[0].payload_types()[0] == 96
    # telephone-event/48000 keeps its agreed 101; the 8 kHz one takes the peer's number for it
    assert reoffer.media[0].payload_types() == [96, 9, 0, 8, 101, 100]


def test_answer_on_hold_received_by_offerer() -> None:
    caller = OfferAnswer(session_id=7)
    caller.create_offer(LOCAL)
    answer, _ = OfferAnswer(session_id=8).create_answer(
        caller.create_offer(LOCAL),
        LocalMedia(address="192.0.2.20", port=50000, direction="recvonly"))
    assert caller.receive_answer(answer).direction == "sendonly"


def test_answer_rejecting_our_stream_gives_rejected() -> None:
    caller = OfferAnswer(session_id=7)
    caller.create_offer(LOCAL)
    answer = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nt=0 0\r\n"
              b"m=audio 0 RTP/AVP 0\r\n")
    negotiated = caller.receive_answer(answer)
    assert negotiated.rejected and negotiated.codec is None


def test_answer_with_codec_we_did_not_offer_is_rejected() -> None:
    caller = OfferAnswer(session_id=7)
    caller.create_offer(LocalMedia(address="192.0.2.10", port=40000, codecs=("PCMU",)))
    answer = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
              b"m=audio 5000 RTP/AVP 8\r\n")
    assert caller.receive_answer(answer).rejected


def test_answer_with_wrong_m_line_count_or_without_offer_raises() -> None:
    caller = OfferAnswer(session_id=7)
    with pytest.raises(SdpError, match="no offer of ours is pending"):
        caller.receive_answer(samples.ASTERISK_OFFER)
    caller.create_offer(LOCAL)
    with pytest.raises(SdpError, match="2 m= lines, expected 1"):
        caller.receive_answer(samples.AUDIO_VIDEO_OFFER)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": "phone.local"}, "address 'phone.local'"),
        ({"port": 0}, "port 0"),
        ({"codecs": ()}, "codecs is empty"),
        ({"codecs": ("G729",)}, "codec 'G729'"),
        ({"codecs": ("PCMU", "PCMU")}, "at most once"),
        ({"direction": "both"}, "direction 'both'"),
        ({"ptime": 25}, "ptime 25"),
        ({"zrtp_hash": "abc"}, "zrtp_hash 'abc'"),
    ],
)
def test_local_media_is_validated(kwargs: dict, message: str) -> None:
    arguments = {"address": "192.0.2.10", "port": 40000, **kwargs}
    with pytest.raises(SdpError, match=message):
        LocalMedia(**arguments)
