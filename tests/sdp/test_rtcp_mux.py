"""RFC 5761 §5.1.1 a=rtcp-mux in offer/answer: always offered, answered only when offered,
and `Negotiated.rtcp_mux` tells the media stream where RTCP goes."""

from __future__ import annotations

from deskphone.sdp import LocalMedia, OfferAnswer, SessionDescription
from tests.sdp import samples

LOCAL = LocalMedia(address="192.0.2.10", port=40000)
PEER = LocalMedia(address="192.0.2.20", port=50000)


def mux_flag(body: bytes) -> bool:
    (audio,) = SessionDescription.parse(body).media
    return audio.attribute_values("rtcp-mux") == [None]


def with_rtcp_mux(offer: bytes) -> bytes:
    return offer.replace(b"a=rtcp-fb:* trr-int 1000\r\n",
                         b"a=rtcp-mux\r\na=rtcp-fb:* trr-int 1000\r\n")


def test_our_offer_carries_rtcp_mux() -> None:
    assert mux_flag(OfferAnswer(session_id=1).create_offer(LOCAL))


def test_offer_without_rtcp_mux_when_configured_off() -> None:
    local = LocalMedia(address="192.0.2.10", port=40000, rtcp_mux=False)
    assert not mux_flag(OfferAnswer(session_id=1).create_offer(local))


def test_linphone_offer_without_rtcp_mux_is_answered_without_it() -> None:
    body, negotiated = OfferAnswer(session_id=1).create_answer(samples.LINPHONE_OFFER, LOCAL)
    assert not mux_flag(body)
    assert negotiated.rtcp_mux is False  # RTCP to port 27079 (RFC 3550 §11)


def test_offer_with_rtcp_mux_is_answered_with_it() -> None:
    offer = with_rtcp_mux(samples.LINPHONE_OFFER)
    body, negotiated = OfferAnswer(session_id=1).create_answer(offer, LOCAL)
    assert mux_flag(body)
    assert negotiated.rtcp_mux is True


def test_offer_with_rtcp_mux_is_declined_when_configured_off() -> None:
    local = LocalMedia(address="192.0.2.10", port=40000, rtcp_mux=False)
    body, negotiated = OfferAnswer(session_id=1).create_answer(
        with_rtcp_mux(samples.LINPHONE_OFFER), local)
    assert not mux_flag(body) and negotiated.rtcp_mux is False


def test_answer_decides_for_the_offerer() -> None:
    """Two deskphones agree on mux; a peer that drops the attribute gets port + 1."""
    ours, theirs = OfferAnswer(session_id=1), OfferAnswer(session_id=2)
    answer, answered = theirs.create_answer(ours.create_offer(LOCAL), PEER)
    assert answered.rtcp_mux is True
    assert ours.receive_answer(answer).rtcp_mux is True

    plain_peer = LocalMedia(address="192.0.2.20", port=50000, rtcp_mux=False)
    answer, answered = OfferAnswer(session_id=3).create_answer(ours.create_offer(LOCAL),
                                                               plain_peer)
    assert answered.rtcp_mux is False
    negotiated = ours.receive_answer(answer)
    assert negotiated.rtcp_mux is False and negotiated.remote_port == 50000


def test_rejected_stream_is_not_multiplexed() -> None:
    _, negotiated = OfferAnswer(session_id=1).create_answer(samples.SDES_ONLY_OFFER, LOCAL)
    assert negotiated.rejected and negotiated.rtcp_mux is False
