"""The test relays themselves, in-process: seeded impairment, SIP relaying (RFC 3261 §16),
SDP rewriting, media forwarding. Given these datagrams, expect these datagrams."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from deskphone.sdp import SessionDescription
from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone_tools.testnet import (
    Impairment,
    LossyRelay,
    LossyUdpRelay,
    MitmRelay,
    RelayThread,
    Side,
    redirect_audio,
)

pytestmark = pytest.mark.timeout(30)

ZRTP_HASH = "1.10 " + "ab" * 32


# -- impairment ----------------------------------------------------------------------------------

def test_impairment_is_reproducible_per_path_and_drops_the_configured_share() -> None:
    impairment = Impairment(loss=0.3, jitter=0.05, seed=42)
    def draws(name: str) -> list[float | None]:
        path = impairment.path(name)
        return [path.decide() for _ in range(2000)]

    first, again = draws("sip from caller"), draws("sip from caller")
    other = draws("sip from callee")
    assert first == again  # same seed, same path name: same fate for every datagram
    assert first != other  # paths draw from independent streams
    dropped = first.count(None)
    assert 0.26 < dropped / len(first) < 0.34
    delays = [d for d in first if d is not None]
    assert all(0.0 <= d <= 0.05 for d in delays) and max(delays) > 0.04


def test_path_stats_count_every_decision() -> None:
    path = Impairment(loss=0.5, seed=1).path("x")
    decisions = [path.decide() for _ in range(100)]
    assert path.stats.dropped == decisions.count(None)
    assert path.stats.passed == 100 - path.stats.dropped
    clean = Impairment().path("y")
    assert [clean.decide() for _ in range(10)] == [0.0] * 10


@pytest.mark.parametrize("kwargs", [{"loss": 1.5}, {"loss": -0.1}, {"jitter": -1.0},
                                    {"jitter": 60.0}])
def test_impairment_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="impairment"):
        Impairment(**kwargs)


# -- SDP rewriting -------------------------------------------------------------------------------

def sdp(port: int, extra: str = "") -> bytes:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\n"
            f"a=zrtp-hash:{ZRTP_HASH}\r\n{extra}").encode()


def test_redirect_audio_points_audio_at_the_relay_and_disables_the_rest() -> None:
    original = SessionDescription.parse(
        sdp(4000, "a=rtcp:4001\r\nm=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"))
    rewritten, remote = redirect_audio(original, "127.0.0.1", 30000)
    assert remote == ("127.0.0.1", 4000)
    audio, video = rewritten.media
    assert audio.port == 30000 and video.port == 0  # RFC 3264 §8.2: nothing bypasses us
    assert not audio.attribute_values("rtcp")       # RFC 3605 port removed
    assert audio.attribute_values("zrtp-hash") == [ZRTP_HASH]  # ZRTP is not its business
    assert rewritten.connection is not None and rewritten.connection.address == "127.0.0.1"


# -- SIP relay (RFC 3261 §16) ----------------------------------------------------------------------

class Peer:
    """A UDP socket standing in for a phone (SIP) or its media port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data, addr)

    def receive(self) -> tuple[bytes, tuple[str, int]]:
        data, addr = self.sock.recvfrom(65535)
        return data, addr

    def message(self) -> SipRequest | SipResponse:
        data, _ = self.receive()
        message = parse_message(data)
        assert isinstance(message, SipRequest | SipResponse)
        return message


@pytest.fixture
def peers() -> Iterator[tuple[Peer, Peer, Peer, Peer]]:
    made = [Peer() for _ in range(4)]  # A sip, B sip, A media, B media
    yield made[0], made[1], made[2], made[3]
    for peer in made:
        peer.sock.close()


def invite(a: Peer, relay: tuple[str, int], media_port: int, branch: str = "z9hG4bKinv1",
           method: str = "INVITE", body: bytes | None = None) -> bytes:
    body = sdp(media_port) if body is None else body
    return (f"{method} sip:ext202@{relay[0]}:{relay[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{a.port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:ext201@127.0.0.1:{a.port}>;tag=atag\r\n"
            f"To: <sip:ext202@{relay[0]}:{relay[1]}>\r\nCall-ID: call-1@test\r\n"
            f"CSeq: 1 {method}\r\nContact: <sip:ext201@127.0.0.1:{a.port}>\r\n"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def ok_for(request: SipRequest, b: Peer, media_port: int | None) -> bytes:
    response = SipResponse(status=200, reason="OK")
    for value in request.headers.get_all("Via"):
        response.headers.add("Via", value)
    for value in request.headers.get_all("Record-Route"):
        response.headers.add("Record-Route", value)
    response.headers.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    response.headers.add("To", to if ";tag=" in to else to + ";tag=btag")
    response.headers.add("Call-ID", request.call_id)
    response.headers.add("CSeq", request.headers.get("CSeq") or "")
    response.headers.add("Contact", f"<sip:ext202@127.0.0.1:{b.port}>")
    if media_port is not None:
        response.headers.add("Content-Type", "application/sdp")
        response.body = sdp(media_port)
    return response.serialize()


def test_sip_relay_routes_a_call_and_puts_itself_in_the_media_path(peers) -> None:
    a, b, a_media, b_media = peers
    with RelayThread(lambda loop: LossyRelay(loop, ("127.0.0.1", b.port),
                                             media=Impairment())) as relay:
        address = relay.call(lambda r: r.sip.address)
        a.send(invite(a, address, a_media.port), address)
        forwarded = b.message()
        assert isinstance(forwarded, SipRequest) and forwarded.method == "INVITE"
        assert str(forwarded.uri) == f"sip:ext202@127.0.0.1:{b.port}"  # §16.5 target
        top, second = forwarded.vias
        assert (top.host, top.port) == address and top.branch.startswith("z9hG4bK")
        assert second.param("rport") == str(a.port)                  # RFC 3581 stamped
        assert forwarded.headers.get_all("Record-Route") == [
            f"<sip:{address[0]}:{address[1]};lr>"]                    # §16.6 step 4
        assert forwarded.headers.get("Max-Forwards") == "69"          # §16.6 step 3
        offer = SessionDescription.parse(forwarded.body)
        callee_port = offer.media[0].port
        assert callee_port not in (a_media.port, address[1])

        # A retransmission and the CANCEL keep the relay's branch (§16.11).
        a.send(invite(a, address, a_media.port), address)
        assert b.message().vias[0].branch == top.branch
        a.send(invite(a, address, a_media.port, method="CANCEL", body=b""), address)
        cancel = b.message()
        assert cancel.headers.get("CSeq") == "1 CANCEL" and cancel.vias[0].branch == top.branch

        b.send(ok_for(forwarded, b, b_media.port), address)
        answer = a.message()
        assert isinstance(answer, SipResponse) and answer.status == 200
        assert [v.port for v in answer.vias] == [a.port]  # the relay took its Via off (§16.7)
        caller_port = SessionDescription.parse(answer.body).media[0].port
        assert caller_port not in (b_media.port, callee_port)

        # Media: A -> relay (caller side) -> B, and back, each from the port the SDP named.
        a_media.send(b"\x80\x00 one rtp packet", ("127.0.0.1", caller_port))
        data, source = b_media.receive()
        assert data == b"\x80\x00 one rtp packet" and source[1] == callee_port
        b_media.send(b"\x80\x00 and back", ("127.0.0.1", callee_port))
        data, source = a_media.receive()
        assert data == b"\x80\x00 and back" and source[1] == caller_port

        # B hangs up: loose routing through the relay to A's Contact, Route consumed (§16.4).
        bye = (f"BYE sip:ext201@127.0.0.1:{a.port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{b.port};branch=z9hG4bKbye1;rport\r\n"
               f"Route: <sip:{address[0]}:{address[1]};lr>\r\nMax-Forwards: 70\r\n"
               f"From: <sip:ext202@127.0.0.1>;tag=btag\r\nTo: <sip:ext201@127.0.0.1>;tag=atag\r\n"
               f"Call-ID: call-1@test\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n").encode()
        b.send(bye, address)
        got = a.message()
        assert isinstance(got, SipRequest) and got.method == "BYE"
        assert "Route" not in got.headers and len(got.vias) == 2
        a.send(ok_for(got, a, None), address)
        assert b.message().status == 200
        stats = relay.call(lambda r: vars(r.sip.stats).copy())
        assert stats["sdp_rewritten"] == 3 and stats["dropped_malformed"] == 0
        assert relay.call(lambda r: r.sip.calls["call-1@test"].ended)


def test_sip_relay_drops_garbage_and_foreign_responses_and_stops_loops(peers) -> None:
    a, b, a_media, _ = peers
    with RelayThread(lambda loop: LossyRelay(loop, ("127.0.0.1", b.port),
                                             media=Impairment())) as relay:
        address = relay.call(lambda r: r.sip.address)
        a.send(b"\x00\xffnot sip at all\r\n\r\n", address)
        a.send(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKx\r\n"
               b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
               b"Content-Length: 0\r\n\r\n", address)
        a.send(b"\r\n\r\n", address)  # keep-alive
        looped = invite(a, address, a_media.port).replace(b"Max-Forwards: 70",
                                                          b"Max-Forwards: 0")
        a.send(looped, address)
        answer = a.message()
        assert isinstance(answer, SipResponse) and answer.status == 483  # §16.3 step 3
        stats = relay.call(lambda r: vars(r.sip.stats).copy())
        assert stats["dropped_malformed"] == 1 and stats["dropped_not_ours"] == 1
        assert stats["keepalives"] == 1 and stats["forwarded_requests"] == 0


@pytest.mark.parametrize("impersonate, expected", [(False, "rewritten"), (True, "removed")])
def test_mitm_relay_rewrites_or_removes_the_zrtp_hash(peers, impersonate: bool,
                                                       expected: str) -> None:
    a, b, a_media, _ = peers
    with RelayThread(lambda loop: MitmRelay(loop, ("127.0.0.1", b.port),
                                            impersonate_zids=impersonate)) as relay:
        address = relay.call(lambda r: r.sip.address)
        a.send(invite(a, address, a_media.port), address)
        hashes = SessionDescription.parse(b.message().body).media[0].attribute_values("zrtp-hash")
        if expected == "removed":
            assert hashes == []
        else:
            leg_hash = relay.call(lambda r: r.latest().legs[Side.CALLEE].session.hello_hash())
            assert hashes == [leg_hash] and leg_hash != ZRTP_HASH


def test_mitm_relay_rejects_an_impossible_strategy() -> None:
    with pytest.raises(ValueError, match="impersonate_zids=False"):
        MitmRelay(None, ("127.0.0.1", 9), impersonate_zids=True, zrtp_hash="rewrite")


def test_lossy_udp_relay_forwards_both_ways_through_its_paths(peers) -> None:
    client, target, _, _ = peers
    with RelayThread(lambda loop: LossyUdpRelay(loop, ("127.0.0.1", target.port),
                                                Impairment(loss=0.5, seed=3))) as relay:
        address = relay.call(lambda r: r.address)
        sent = 200
        for i in range(sent):
            client.send(b"up %d" % i, address)
        deadline = time.monotonic() + 10
        while relay.call(lambda r: r.port_stats.received) < sent:  # the relay has seen all
            assert time.monotonic() < deadline, "the relay did not receive all datagrams"
            time.sleep(0.01)  # polling a condition with a deadline
        passed = relay.call(lambda r: r.to_target.stats.passed)
        assert 60 < passed < 140
        received = [target.receive()[0] for _ in range(passed)]  # exactly those, in order
        assert received == sorted(received, key=lambda d: int(d.split()[1]))
        assert relay.call(lambda r: r.to_target.stats.dropped) == sent - passed
        target.send(b"down", address)
        client.sock.settimeout(5)
        # the answer may itself be lost: resend until one gets through (bounded)
        for _ in range(20):
            client.sock.settimeout(0.2)
            try:
                assert client.receive()[0] == b"down"
                break
            except TimeoutError:
                target.send(b"down", address)
        else:
            pytest.fail("nothing came back through a 50 % lossy path in 20 tries")



def test_drop_first_always_loses_the_first_datagrams_of_each_path():
    impairment = Impairment(drop_first=2, seed=5)
    for name in ("sip a->b", "zrtp b->a"):
        path = impairment.path(name)
        assert [path.decide() for _ in range(4)][:2] == [None, None]
        assert path.stats.dropped >= 2
    assert not impairment.is_clean
