"""Two UserAgent cores talking to each other in-process with a fake clock."""

from __future__ import annotations

from deskphone.sip import events as ev
from tests.sip.pair import Network, drain, sent_lines

OFFER = b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
HOLD = OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")


def _connected_call(net: Network):
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    incoming = drain(bob)
    assert incoming == [
        ev.IncomingCall(call_id, "sip:alice@127.0.0.1:5061", "Alice", OFFER)
    ]
    bob.ringing(call_id, net.now)
    net.pump()
    assert drain(alice) == [ev.CallProgress(call_id, 180, "Ringing", None)]
    bob.answer(call_id, ANSWER, net.now)
    net.pump()
    assert drain(alice) == [ev.CallAnswered(call_id, ANSWER)]
    assert drain(bob) == [ev.CallEstablished(call_id)]
    return alice, bob, call_id


def test_call_ring_answer_and_caller_hangs_up():
    net = Network()
    alice, bob, call_id = _connected_call(net)
    alice.hangup(call_id, net.now)
    net.pump()
    assert drain(alice) == [ev.CallEnded(call_id, "local_hangup", None)]
    assert drain(bob) == [ev.CallEnded(call_id, "remote_hangup", None)]
    assert sent_lines(net, 5061) == [
        "INVITE sip:bob@127.0.0.1:5062 SIP/2.0",
        "ACK sip:bob@127.0.0.1:5062 SIP/2.0",
        "BYE sip:bob@127.0.0.1:5062 SIP/2.0",
    ]
    assert sent_lines(net, 5062) == [
        "SIP/2.0 100 Trying",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 OK",
        "SIP/2.0 200 OK",
    ]


def test_callee_hangs_up():
    net = Network()
    alice, bob, call_id = _connected_call(net)
    bob.hangup(call_id, net.now)
    net.pump()
    assert drain(alice) == [ev.CallEnded(call_id, "remote_hangup", None)]
    assert drain(bob) == [ev.CallEnded(call_id, "local_hangup", None)]


def test_cancel_while_ringing():
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    drain(bob)
    bob.ringing(call_id, net.now)
    net.pump()
    drain(alice)
    alice.hangup(call_id, net.now)
    net.pump()
    assert drain(alice) == [ev.CallEnded(call_id, "local_hangup", None)]
    assert drain(bob) == [ev.CallEnded(call_id, "cancelled", 487)]
    assert "CANCEL sip:bob@127.0.0.1:5062 SIP/2.0" in sent_lines(net, 5061)
    assert "SIP/2.0 487 Request Terminated" in sent_lines(net, 5062)
    assert (
        sent_lines(net, 5061)[-1] == "ACK sip:bob@127.0.0.1:5062 SIP/2.0"
    )  # §17.1.1.3 ACK for 487


def test_hangup_before_any_provisional_waits_for_one_then_cancels():
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    net.drop = lambda src, dst, data: data.startswith(b"SIP/2.0 100")
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    alice.hangup(call_id, net.now)
    net.pump()
    assert "CANCEL sip:bob@127.0.0.1:5062 SIP/2.0" not in sent_lines(net, 5061)
    net.drop = lambda src, dst, data: False
    bob.ringing(call_id, net.now)
    net.pump()
    assert "CANCEL sip:bob@127.0.0.1:5062 SIP/2.0" in sent_lines(net, 5061)
    assert drain(bob)[-1] == ev.CallEnded(call_id, "cancelled", 487)


def test_reject_busy_and_decline():
    for code, reason in (
        (486, "busy"),
        (603, "declined"),
        (480, "unreachable"),
        (500, "failed"),
    ):
        net = Network()
        alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
        call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
        net.pump()
        bob.reject(call_id, code, net.now)
        net.pump()
        assert drain(alice) == [ev.CallEnded(call_id, reason, code)]
        assert sent_lines(net, 5061)[-1] == "ACK sip:bob@127.0.0.1:5062 SIP/2.0"


def test_reinvite_hold_and_resume():
    net = Network()
    alice, bob, call_id = _connected_call(net)
    alice.reinvite(call_id, HOLD, net.now)
    net.pump()
    assert drain(bob) == [ev.Reoffer(call_id, HOLD)]
    held_answer = ANSWER.replace(b"t=0 0\r\n", b"t=0 0\r\na=recvonly\r\n")
    bob.answer_reoffer(call_id, held_answer, net.now)
    net.pump()
    assert drain(alice) == [ev.CallAnswered(call_id, held_answer)]
    assert sent_lines(net, 5061)[-2:] == [
        "INVITE sip:bob@127.0.0.1:5062 SIP/2.0",
        "ACK sip:bob@127.0.0.1:5062 SIP/2.0",
    ]
    net.advance(40)  # no stray retransmissions of the 2xx once ACKed
    assert sent_lines(net, 5062).count("SIP/2.0 200 OK") == 2
    bob.reinvite(call_id, ANSWER, net.now)  # the callee may re-INVITE too (resume)
    net.pump()
    assert drain(alice) == [ev.Reoffer(call_id, ANSWER)]


def test_resume_right_after_hold_is_not_glare():
    """§14.2: an ACKed re-INVITE is no longer pending; resuming at once must not get 491."""
    net = Network()
    alice, bob, call_id = _connected_call(net)
    alice.reinvite(call_id, HOLD, net.now)
    net.pump()
    assert drain(bob) == [ev.Reoffer(call_id, HOLD)]
    bob.answer_reoffer(call_id, ANSWER, net.now)
    net.pump()
    assert drain(alice) == [ev.CallAnswered(call_id, ANSWER)]
    net.advance(1)  # well inside Timer L (32 s): the server transaction still exists
    alice.reinvite(call_id, OFFER, net.now)
    net.pump()
    assert drain(bob) == [ev.Reoffer(call_id, OFFER)]
    assert "SIP/2.0 491 Request Pending" not in sent_lines(net, 5062)


def test_reinvite_glare_gets_491_and_retries_after_backoff():
    net = Network()
    alice, bob, call_id = _connected_call(net)
    alice.reinvite(call_id, HOLD, net.now)
    bob.reinvite(call_id, HOLD, net.now)
    net.pump()
    assert sent_lines(net, 5061).count("SIP/2.0 491 Request Pending") == 1
    assert sent_lines(net, 5062).count("SIP/2.0 491 Request Pending") == 1
    assert drain(alice) == [] and drain(bob) == []
    # §14.1: Bob (not the Call-ID owner) retries within 0-2 s, Alice within 2.1-4 s.
    net.advance(2.05)
    assert drain(alice) == [ev.Reoffer(call_id, HOLD)]
    alice.answer_reoffer(call_id, ANSWER, net.now)
    net.pump()
    assert drain(bob) == [ev.CallAnswered(call_id, ANSWER)]
    net.advance(2.0)
    assert drain(bob) == [ev.Reoffer(call_id, HOLD)]


def test_lost_ack_makes_uas_retransmit_200_then_give_up_with_bye():
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    drain(bob)
    net.drop = lambda src, dst, data: data.startswith(b"ACK")
    bob.answer(call_id, ANSWER, net.now)
    net.advance(40)
    # 200 at 0 then retransmitted at 0.5, 1.5, 3.5, 7.5, 11.5, ... up to 64*T1 (§13.3.1.4)
    assert 7 <= sent_lines(net, 5062).count("SIP/2.0 200 OK") <= 12
    assert drain(bob)[-1] == ev.CallEnded(call_id, "timeout", 408)
    assert "BYE sip:alice@127.0.0.1:5061 SIP/2.0" in sent_lines(net, 5062)


def test_retransmitted_invite_is_absorbed():
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    net.drop = lambda src, dst, data: src[1] == 5062  # Bob's responses are lost
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.advance(1.6)  # Timer A: retransmits at 0.5 and 1.5
    assert sent_lines(net, 5061).count("INVITE sip:bob@127.0.0.1:5062 SIP/2.0") == 3
    assert [type(e) for e in drain(bob)] == [ev.IncomingCall]
    assert bob.stats.retransmissions_absorbed == 2
    assert (
        sent_lines(net, 5062).count("SIP/2.0 100 Trying") == 3
    )  # each copy re-answered
    assert call_id in bob.calls


def test_unanswered_invite_times_out_with_timer_b():
    net = Network()
    alice = net.agent("alice", 5061)
    call_id = alice.invite("sip:nobody@127.0.0.1:5999", OFFER, net.now)
    net.advance(33)
    assert drain(alice) == [ev.CallEnded(call_id, "timeout", 408)]
    assert (
        sent_lines(net, 5061).count("INVITE sip:nobody@127.0.0.1:5999 SIP/2.0") == 7
    )  # 0,.5,1.5,3.5,7.5,15.5,31.5


def test_options_answered_with_allow_and_accept():
    net = Network()
    bob = net.agent("bob", 5062)
    options = (
        b"OPTIONS sip:bob@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKopt1;rport\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
        b"Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    bob.receive_datagram(options, ("127.0.0.1", 5061), 0.0)
    [(data, addr)] = bob.datagrams_to_send(0.0)
    assert addr == ("127.0.0.1", 5061)
    assert data.startswith(b"SIP/2.0 200 OK\r\n")
    assert (
        b"\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS" in data
        and b"\r\nAccept: application/sdp\r\n" in data
    )
    assert b";rport=5061" in data  # RFC 3581 §4


def test_call_forwarding_redirects_with_302_and_the_caller_follows_it():
    # Bob forwards: 302 Moved Temporarily, Contact = the new target (RFC 3261 §21.3.3); Alice's
    # UA sends its next INVITE there (§8.1.3.4), and Carol gets the call.
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    carol = net.agent("carol", 5063)
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    drain(bob)
    bob.redirect(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.pump()
    assert "SIP/2.0 302 Moved Temporarily" in sent_lines(net, 5062)
    redirect = next(data for (_, src), _, data in net.wire
                    if src == 5062 and data.startswith(b"SIP/2.0 302"))
    assert b"\r\nContact: <sip:carol@127.0.0.1:5063>\r\n" in redirect
    assert [type(e) for e in drain(carol)] == [ev.IncomingCall]
    assert "INVITE sip:carol@127.0.0.1:5063 SIP/2.0" in sent_lines(net, 5061)
