"""RFC 8839 ICE attributes in offer/answer: written only when the call layer asks for them, read
from a peer's offer or answer (media level, session-level credentials as the fallback), capped,
and never present in a LAN offer (no [nat], no peer ICE: the body is what it always was)."""

from __future__ import annotations

from deskphone.media.ice import IceCandidate
from deskphone.sdp import IceAttributes, LocalMedia, OfferAnswer, SessionDescription
from deskphone.sdp.ice import MAX_CANDIDATE_LINES
from tests.sdp import samples

CANDIDATES = ("1 1 UDP 2130706431 192.168.1.2 40000 typ host",
              "2 1 UDP 1694498815 203.0.113.11 40000 typ srflx raddr 192.168.1.2 rport 40000")
ICE = IceAttributes("ufragA", "p" * 24, CANDIDATES)
LAN = LocalMedia(address="192.0.2.10", port=40000)
NATTED = LocalMedia(address="203.0.113.11", port=40000, ice=ICE)


def ice_lines(body: bytes) -> list[str]:
    return [line for line in body.decode().split("\r\n")
            if line.split(":")[0] in ("a=ice-ufrag", "a=ice-pwd", "a=candidate",
                                      "a=end-of-candidates", "a=ice-lite")]


def test_lan_offer_has_no_ice_attributes() -> None:
    body = OfferAnswer(session_id=1).create_offer(LAN)
    assert ice_lines(body) == []
    assert b"ice" not in body


def test_offer_with_ice_carries_credentials_candidates_and_the_default_candidate() -> None:
    body = OfferAnswer(session_id=1).create_offer(NATTED)
    assert ice_lines(body) == ["a=ice-ufrag:ufragA", f"a=ice-pwd:{'p' * 24}",
                               *[f"a=candidate:{c}" for c in CANDIDATES], "a=end-of-candidates"]
    (audio,) = SessionDescription.parse(body).media
    assert b"c=IN IP4 203.0.113.11" in body and audio.port == 40000  # RFC 8839 §4.2.1.2
    assert audio.attribute_values("rtcp-mux") == [None]


def test_answer_reads_the_peers_ice_and_candidates_parse_with_the_agents_parser() -> None:
    offer = OfferAnswer(session_id=1).create_offer(NATTED)
    _, negotiated = OfferAnswer(session_id=2).create_answer(offer, LAN)
    remote = negotiated.remote_ice
    assert remote is not None
    assert (remote.ufrag, remote.pwd, remote.candidates) == ("ufragA", "p" * 24, CANDIDATES)
    parsed = [IceCandidate.from_sdp(value) for value in remote.candidates]
    assert [(c.type, c.host) for c in parsed] == [("host", "192.168.1.2"),
                                                  ("srflx", "203.0.113.11")]


def test_answer_without_ice_when_local_media_has_none() -> None:
    offer = OfferAnswer(session_id=1).create_offer(NATTED)
    answer, _ = OfferAnswer(session_id=2).create_answer(offer, LAN)
    assert ice_lines(answer) == []


def test_offerer_sees_an_answer_without_ice_as_a_peer_without_ice() -> None:
    ours = OfferAnswer(session_id=1)
    offer = ours.create_offer(NATTED)
    answer, _ = OfferAnswer(session_id=2).create_answer(offer, LAN)
    assert ours.receive_answer(answer).remote_ice is None


def test_linphone_offer_without_ice_has_no_remote_ice() -> None:
    _, negotiated = OfferAnswer(session_id=1).create_answer(samples.LINPHONE_OFFER, LAN)
    assert negotiated.remote_ice is None


def test_session_level_credentials_and_ice_lite_are_read() -> None:
    body = OfferAnswer(session_id=1).create_offer(LAN).replace(
        b"t=0 0\r\n", b"t=0 0\r\na=ice-lite\r\na=ice-ufrag:sess\r\na=ice-pwd:" + b"q" * 22
        + b"\r\n")
    _, negotiated = OfferAnswer(session_id=2).create_answer(body, LAN)
    assert negotiated.remote_ice is not None
    assert (negotiated.remote_ice.ufrag, negotiated.remote_ice.lite) == ("sess", True)


def test_a_flood_of_candidate_lines_is_capped_and_counted() -> None:
    flood = IceAttributes("ufragA", "p" * 24, tuple(
        f"{i} 1 UDP {2000000000 - i} 198.51.100.{i % 250 + 1} {10000 + i} typ host"
        for i in range(MAX_CANDIDATE_LINES + 40)))
    body = OfferAnswer(session_id=1).create_offer(
        LocalMedia(address="203.0.113.11", port=40000, ice=flood))
    _, negotiated = OfferAnswer(session_id=2).create_answer(body, LAN)
    remote = negotiated.remote_ice
    assert remote is not None
    assert len(remote.candidates) == MAX_CANDIDATE_LINES and remote.dropped == 40


def test_password_is_not_in_repr() -> None:
    assert "p" * 24 not in repr(ICE)


def test_a_two_component_answer_names_rtcps_default_candidate() -> None:
    ice = IceAttributes("ufragA", "p" * 24, CANDIDATES, rtcp="40001 IN IP4 203.0.113.11")
    body = OfferAnswer(session_id=1).create_offer(
        LocalMedia(address="203.0.113.11", port=40000, ice=ice))
    assert b"a=rtcp:40001 IN IP4 203.0.113.11\r\n" in body  # RFC 3605, RFC 8839 §4.2.1.2


def test_components_to_answer_an_ice_offer_with() -> None:
    from deskphone.calls.call_ice import offer_ice_components

    muxed = OfferAnswer(session_id=1).create_offer(NATTED)
    assert offer_ice_components(muxed) == 1
    two = IceAttributes("ufragA", "p" * 24, (*CANDIDATES,
                                             "1 2 UDP 2130706430 192.168.1.2 40001 typ host"))
    separate = OfferAnswer(session_id=1).create_offer(
        LocalMedia(address="203.0.113.11", port=40000, ice=two, rtcp_mux=False))
    assert offer_ice_components(separate) == 2
    assert offer_ice_components(OfferAnswer(session_id=1).create_offer(LAN)) == 0
