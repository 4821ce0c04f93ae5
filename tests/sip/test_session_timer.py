"""RFC 4028 session timers in the sans-IO core: the negotiation table (§9), 422 both ways (§6,
§7.4), refreshes by re-INVITE at half the interval and the BYE when none came (§10)."""

from __future__ import annotations

import pytest

from deskphone.config import ConfigError, config_from_dict
from deskphone.sip import events as ev
from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.session_timer import Offered, negotiate
from tests.sip.pair import Network, drain
from tests.sip.test_hostile_input import PEER, SDP, _request, _responses, _ua
from tests.sip.test_useragent_pair import ANSWER, OFFER


@pytest.mark.parametrize(("offer", "chosen"), [
    # no Session-Expires: ours; the UAC refreshes if it can, else we do
    (Offered(None, None, 90, True), (1800, "uac")),
    (Offered(None, None, 90, False), (1800, "uas")),
    # asked for less than ours: kept; more: lowered to ours
    (Offered(300, None, 90, True), (300, "uac")),
    (Offered(7200, None, 90, True), (1800, "uac")),
    # a refresher chosen by the UAC (or a proxy) is kept
    (Offered(300, "uas", 90, True), (300, "uas")),
    (Offered(300, "uac", 90, False), (300, "uac")),
    # never under the request's Min-SE
    (Offered(3600, None, 2400, True), (2400, "uac")),
    # under our minimum: 422 with it
    (Offered(60, None, 90, True), 120),
    (Offered(100, "uac", 90, True), 120),
])
def test_uas_negotiation_table(offer: Offered, chosen: tuple[int, str] | int) -> None:
    assert negotiate(offer, our_interval=1800, our_min_se=120 if chosen == 120 else 90) == chosen


def messages(net: Network, port: int) -> list[SipRequest | SipResponse]:
    return [parse_message(data) for src, _, data in net.wire if src[1] == port]


def requests(net: Network, port: int, method: str) -> list[SipRequest]:
    return [m for m in messages(net, port) if isinstance(m, SipRequest) and m.method == method]


def final_2xx(net: Network, port: int, method: str) -> list[SipResponse]:
    return [m for m in messages(net, port) if isinstance(m, SipResponse)
            and m.status == 200 and m.cseq.method == method]


def connected(net: Network, alice_options: dict | None = None,
              bob_options: dict | None = None) -> tuple[object, object, str]:
    alice = net.agent("alice", 5061, **(alice_options or {}))
    bob = net.agent("bob", 5062, **(bob_options or {}))
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    drain(bob)
    bob.answer(call_id, ANSWER, net.now)
    net.pump()
    assert drain(alice) == [ev.CallAnswered(call_id, ANSWER)]
    assert drain(bob) == [ev.CallEstablished(call_id)]
    return alice, bob, call_id


def test_invite_and_2xx_carry_the_agreed_session_and_the_caller_refreshes():
    net = Network()
    alice, bob, call_id = connected(net, bob_options={"session_expires": 600})
    invite = requests(net, 5061, "INVITE")[0]
    assert "timer" in invite.headers.get_all("Supported")
    assert invite.headers.get("Session-Expires") == "1800"  # §7.1: no refresher, UAS picks
    assert invite.headers.get("Min-SE") == "90"
    ok = final_2xx(net, 5062, "INVITE")[0]
    assert ok.headers.get("Session-Expires") == "600;refresher=uac"
    assert ok.headers.get_all("Require") == ["timer"]
    # §10: alice refreshes at half the interval, with the SDP she sent (same o= version)
    net.advance(299)
    assert len(requests(net, 5061, "INVITE")) == 1
    net.advance(2)
    refresh = requests(net, 5061, "INVITE")[1]
    assert refresh.body == OFFER
    assert refresh.headers.get("Session-Expires") == "600;refresher=uac"
    assert drain(bob) == [ev.Reoffer(call_id, OFFER)]  # the call layer answers it, as a hold
    bob.answer_reoffer(call_id, ANSWER, net.now)
    net.pump()
    assert drain(alice) == []  # a refresh changes nothing the call layer must hear of
    # ... and again every 300 s, the call never ends while both are there
    for _ in range(5):
        net.advance(300)
        for event in drain(bob):
            assert isinstance(event, ev.Reoffer)
            bob.answer_reoffer(call_id, ANSWER, net.now)
        net.pump()
    assert len({r.cseq.number for r in requests(net, 5061, "INVITE")}) == 7  # copies aside
    assert drain(alice) == [] and not requests(net, 5061, "BYE")
    assert call_id in alice.calls and call_id in bob.calls


def test_refresher_vanishes_so_the_other_side_sends_bye_before_the_interval_ends():
    net = Network()
    alice, bob, call_id = connected(net, bob_options={"session_expires": 600})
    answered = net.now
    net.drop = lambda src, dst, data: src[1] == 5061  # alice crashed: nothing more from her
    # §10: BYE at interval - min(32, interval / 3) after the last refresh
    net.advance(600 - 32 - 0.1 - (net.now - answered))
    assert drain(bob) == [] and not requests(net, 5062, "BYE")
    net.advance(0.2)
    assert drain(bob) == [ev.CallEnded(call_id, "connection_lost", None)]
    assert requests(net, 5062, "BYE")


def test_refresh_that_gets_no_answer_ends_the_call_as_connection_lost():
    net = Network()
    alice, bob, call_id = connected(net, bob_options={"session_expires": 600})
    net.drop = lambda src, dst, data: src[1] == 5062  # bob crashed
    net.advance(300 + 33)  # the refresh at 300 s, Timer B 64*T1 = 32 s later
    assert drain(alice) == [ev.CallEnded(call_id, "connection_lost", 408)]
    assert requests(net, 5061, "BYE")


def test_uas_that_is_refresher_sends_the_refresh_with_refresher_uac():
    ua = _ua()
    ua.receive_datagram(_request("INVITE", "c1", body=SDP, extra=(
        "Supported: timer\r\nSession-Expires: 120;refresher=uas\r\n")), PEER, 0.0)
    (incoming,) = [e for e in iter(ua.next_event, None) if isinstance(e, ev.IncomingCall)]
    ua.datagrams_to_send(0.0)
    ua.answer("c1", ANSWER, 0.0)
    (ok,) = [r for r in _responses(ua, 0.0) if r.status == 200]
    assert ok.headers.get("Session-Expires") == "120;refresher=uas"
    assert ok.headers.get_all("Require") == ["timer"]
    ua.receive_datagram(_request("ACK", "c1", to_tag=ok.to.tag or ""), PEER, 0.1)
    assert ua.session_timers.get_timer() == pytest.approx(60.0)  # §10: half the interval
    sent = []
    while (deadline := ua.get_timer()) is not None and deadline <= 60.0:
        ua.handle_timer(deadline)
        sent += [parse_message(d) for d, _ in ua.datagrams_to_send(deadline)]
    (refresh,) = [m for m in sent if isinstance(m, SipRequest)]
    assert isinstance(refresh, SipRequest) and refresh.method == "INVITE"
    assert refresh.headers.get("Session-Expires") == "120;refresher=uac"  # we send it: uac
    assert refresh.body == ANSWER and refresh.headers.get("Min-SE") == "90"


def test_uac_without_timer_support_gets_us_as_refresher_and_no_require():
    ua = _ua()
    ua.receive_datagram(_request("INVITE", "c2", body=SDP), PEER, 0.0)
    ua.datagrams_to_send(0.0)
    ua.ringing("c2", 0.0)
    (ringing,) = _responses(ua, 0.0)
    assert ringing.status == 180 and ringing.headers.get("Session-Expires") is None
    assert ua.calls["c2"].session is None  # only a 2xx sets the session (§9)
    ua.answer("c2", ANSWER, 0.0)
    (ok,) = [r for r in _responses(ua, 0.0) if r.status == 200]
    assert ok.headers.get("Session-Expires") == "1800;refresher=uas"
    assert ok.headers.get_all("Require") == []


def test_session_expires_below_our_min_se_gets_422_and_the_caller_retries_with_it():
    net = Network()
    alice, bob, call_id = connected(net, alice_options={"session_expires": 100},
                                    bob_options={"min_se": 1000, "session_expires": 1200})
    too_small = [m for m in messages(net, 5062) if isinstance(m, SipResponse)
                 and m.status == 422]
    assert len(too_small) == 1 and too_small[0].headers.get("Min-SE") == "1000"
    first, retry = requests(net, 5061, "INVITE")
    assert retry.cseq.number == first.cseq.number + 1 and retry.call_id == first.call_id
    assert retry.headers.get("Session-Expires") == "1000"
    assert retry.headers.get("Min-SE") == "1000"  # §7.4: what the 422 asked for
    assert final_2xx(net, 5062, "INVITE")[0].headers.get("Session-Expires") == \
        "1000;refresher=uac"


def test_a_422_that_asks_for_no_more_than_before_fails_the_call():
    ua = _ua()
    call_id = ua.invite(f"sip:p@{PEER[0]}:{PEER[1]}", OFFER, 0.0)
    for attempt in range(2):
        (invite,) = [m for d, _ in ua.datagrams_to_send(0.0)
                     if isinstance(m := parse_message(d), SipRequest) and m.method == "INVITE"]
        assert isinstance(invite, SipRequest) and invite.cseq.number == 1 + attempt
        via = invite.headers.get("Via")
        reply = (f"SIP/2.0 422 Session Interval Too Small\r\nVia: {via}\r\n"
                 f"From: {invite.headers.get('From')}\r\nTo: {invite.headers.get('To')};tag=x\r\n"
                 f"Call-ID: {call_id}\r\nCSeq: {invite.cseq.number} INVITE\r\n"
                 "Min-SE: 3600\r\nContent-Length: 0\r\n\r\n").encode()
        ua.receive_datagram(reply, PEER, 0.0)
    events = list(iter(ua.next_event, None))
    assert events[-1] == ev.CallEnded(call_id, "failed", 422)


def test_reinvite_below_our_min_se_gets_422_and_the_call_stays():
    net = Network()
    alice, bob, call_id = connected(net)
    dialog = alice.calls[call_id].dialog
    request = dialog.build_request("INVITE")
    alice.builder.add_via(request)
    alice.builder.add_contact(request)
    request.headers.add("Session-Expires", "30")
    alice.builder.add_body(request, OFFER)
    bob.receive_datagram(request.serialize(), ("127.0.0.1", 5061), net.now)
    (answer,) = [parse_message(d) for d, _ in bob.datagrams_to_send(net.now)]
    assert isinstance(answer, SipResponse) and answer.status == 422
    assert answer.headers.get("Min-SE") == "90" and drain(bob) == []


def test_malformed_session_expires_is_a_400():
    ua = _ua()
    ua.receive_datagram(_request("INVITE", "c3", body=SDP,
                                 extra="Session-Expires: soon;refresher=me\r\n"), PEER, 0.0)
    assert [r.status for r in _responses(ua, 0.0)] == [400]


def test_2xx_without_session_expires_means_no_session_timer():
    net = Network()
    alice, bob, call_id = connected(net, bob_options={"session_expires": 0})
    assert final_2xx(net, 5062, "INVITE")[0].headers.get("Session-Expires") == "1800;refresher=uac"
    # bob offers none himself but honours alice's; with neither, nothing is timed:
    net2 = Network()
    alice2, bob2, call2 = connected(net2, alice_options={"session_expires": 0},
                                    bob_options={"session_expires": 0})
    assert final_2xx(net2, 5062, "INVITE")[0].headers.get("Session-Expires") is None
    assert alice2.calls[call2].session is None and bob2.calls[call2].session is None
    net2.advance(7200)
    assert drain(alice2) == [] and drain(bob2) == []


@pytest.mark.parametrize(("sip", "key", "value"), [
    ({"session_expires": 60}, "sip.session_expires", 60),
    ({"min_se": 89}, "sip.min_se", 89),
    ({"min_se": 600, "session_expires": 300}, "sip.session_expires", 300),
    ({"session_expires": "half an hour"}, "sip.session_expires", "half an hour"),
])
def test_bad_session_timer_config_names_the_key(sip: dict, key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"sip": sip})
    assert (info.value.key, info.value.value) == (key, value)


def test_session_timer_config_defaults() -> None:
    sip = config_from_dict({}).sip
    assert (sip.session_expires, sip.min_se) == (1800, 90)
    assert config_from_dict({"sip": {"session_expires": 0}}).sip.session_expires == 0
