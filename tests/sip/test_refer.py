"""REFER blind transfer between two in-process user agents (RFC 3515), fake clock, no sockets."""

from __future__ import annotations

import pytest

from deskphone.sip import events as ev
from deskphone.sip.message import parse_message
from deskphone.sip.refer import ReferError, parse_refer_notify, refer_target, sipfrag
from deskphone.sip.useragent import CallStateError
from tests.sip.pair import Network, drain, sent_lines
from tests.sip.test_useragent_pair import _connected_call


def _sent(net: Network, port: int, method: str) -> list:
    return [parse_message(data) for src, _, data in net.wire
            if src[1] == port and data.startswith(method.encode() + b" ")]


def test_transferee_answers_202_then_notifies_100_and_the_outcome() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)  # alice 5061 called bob 5062
    bob.refer(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.pump()
    assert drain(alice) == [ev.TransferRequested(call_id, "sip:carol@127.0.0.1:5063")]
    # RFC 3515 §2.4.5: the first NOTIFY (100 Trying) goes out at once with the 202.
    assert drain(bob) == [ev.TransferAccepted(call_id),
                          ev.TransferNotify(call_id, 100, "Trying", False)]
    refer = _sent(net, 5062, "REFER")[0]
    assert refer.headers.get("Refer-To") == "<sip:carol@127.0.0.1:5063>"
    assert refer.headers.get("Referred-By") == "<sip:bob@127.0.0.1:5062>"  # RFC 3892
    assert refer.headers.get("Contact")
    assert "SIP/2.0 202 Accepted" in sent_lines(net, 5061)

    alice.notify_transfer(call_id, 180, "Ringing", net.now)
    alice.notify_transfer(call_id, 200, "OK", net.now)
    net.pump()
    assert drain(bob) == [ev.TransferNotify(call_id, 180, "Ringing", False),
                          ev.TransferNotify(call_id, 200, "OK", True)]
    notifies = _sent(net, 5061, "NOTIFY")
    assert [n.body for n in notifies] == [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 180 Ringing\r\n",
                                          b"SIP/2.0 200 OK\r\n"]
    event_ids = {n.headers.get("Event") for n in notifies}
    assert event_ids == {f"refer;id={refer.cseq.number}"}
    assert [n.headers.get("Subscription-State") for n in notifies] == [
        "active;expires=60", "active;expires=60", "terminated;reason=noresource"]
    assert all(n.headers.get("Content-Type") == "message/sipfrag;version=2.0" for n in notifies)
    # the subscription is over: no more NOTIFYs for it
    with pytest.raises(CallStateError):
        alice.notify_transfer(call_id, 200, "OK", net.now)


def test_failed_new_call_is_reported_and_the_call_stays() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)
    bob.refer(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.pump()
    drain(alice), drain(bob)
    alice.notify_transfer(call_id, 486, "Busy Here", net.now)
    net.pump()
    assert drain(bob) == [ev.TransferNotify(call_id, 486, "Busy Here", True)]
    # the original dialog is untouched: a second transfer may be tried
    bob.refer(call_id, "sip:dave@127.0.0.1:5064", net.now)
    net.pump()
    assert drain(alice) == [ev.TransferRequested(call_id, "sip:dave@127.0.0.1:5064")]


def test_second_refer_while_one_is_running_gets_491() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)
    bob.refer(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.pump()
    drain(alice), drain(bob)
    with pytest.raises(CallStateError):
        bob.refer(call_id, "sip:dave@127.0.0.1:5064", net.now)  # ours is still running
    bob.calls[call_id].refer_sent = False  # a transferor that does not wait (not us)
    bob.refer(call_id, "sip:dave@127.0.0.1:5064", net.now)
    net.pump()
    assert "SIP/2.0 491 Request Pending" in sent_lines(net, 5061)
    assert drain(bob) == [ev.TransferFailed(call_id, 491)]
    assert drain(alice) == []  # alice is still busy with the first one


def test_refer_before_a_dialog_is_a_state_error() -> None:
    net = Network()
    alice = net.agent("alice", 5061)
    net.agent("bob", 5062)
    from tests.sip.test_useragent_pair import OFFER

    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    with pytest.raises(CallStateError, match="confirmed dialog"):
        alice.refer(call_id, "sip:carol@127.0.0.1", net.now)


def test_unanswered_refer_fails_with_408() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)
    net.drop = lambda src, dst, data: data.startswith(b"REFER")
    bob.refer(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.advance(40.0)  # Timer F is 64*T1 = 32 s
    assert ev.TransferFailed(call_id, 408) in drain(bob)
    assert drain(alice) == []


def test_subscription_lapses_without_a_final_notify() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)
    bob.refer(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.pump()
    drain(alice), drain(bob)
    net.advance(59.0)
    assert drain(bob) == []
    net.advance(2.0)  # active;expires=60 has run out: RFC 6665 §4.1.2.4
    assert drain(bob) == [ev.TransferFailed(call_id, 408)]


def test_notify_without_our_refer_gets_481_and_bad_refers_are_refused() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)
    call = alice.calls[call_id]
    assert call.dialog is not None
    notify = call.dialog.build_request("NOTIFY")
    alice.builder.add_via(notify)
    notify.headers.add("Event", "refer")
    notify.headers.add("Subscription-State", "active")
    notify.headers.add("Content-Type", "message/sipfrag")
    notify.body = b"SIP/2.0 200 OK\r\n"
    alice.table.start_client(notify, ("127.0.0.1", 5062), net.now)
    net.pump()
    assert "SIP/2.0 481 Call/Transaction Does Not Exist" in sent_lines(net, 5062)

    for refer_to, status in (("<http://example.com/>", "416"),
                             ("<sip:carol@h?Subject=hi>", "501"),  # only Replaces
                             ("<sip:carol@h?Replaces=abc%40h>", "400")):  # no tags
        refer = call.dialog.build_request("REFER")
        alice.builder.add_via(refer)
        refer.headers.add("Refer-To", refer_to)
        alice.table.start_client(refer, ("127.0.0.1", 5062), net.now)
        net.pump()
        assert any(line.startswith(f"SIP/2.0 {status}") for line in sent_lines(net, 5062))
    assert not any(isinstance(e, ev.TransferRequested) for e in drain(bob))


@pytest.mark.parametrize(("values", "status"), [
    ([], 400), (["<sip:a@h>", "<sip:b@h>"], 400), (["not a uri"], 400),
    (["<mailto:a@h>"], 416), (["<sip:a@h?Replaces=x>"], 400), (["<sip:a@h?Subject=x>"], 501),
    (["<sip:a@h?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=y>"], 501),
])
def test_refer_to_checks(values: list[str], status: int) -> None:
    with pytest.raises(ReferError) as caught:
        refer_target(values)
    assert caught.value.status == status


def test_sipfrag_parsing() -> None:
    ok = parse_refer_notify("refer;id=3", "message/sipfrag;version=2.0",
                            "active;expires=30", b"SIP/2.0 180 Ringing\r\n")
    assert (ok.status, ok.reason, ok.terminated, ok.expires) == (180, "Ringing", False, 30)
    done = parse_refer_notify("refer", "message/sipfrag", "terminated;reason=noresource",
                              sipfrag(603, "Decline\x00"))
    assert (done.status, done.terminated) == (603, True)
    for event, ctype, state, body, status in (
        ("presence", "message/sipfrag", "active", b"SIP/2.0 200 OK", 489),
        ("refer", "message/sipfrag", None, b"SIP/2.0 200 OK", 400),
        ("refer", "text/plain", "active", b"SIP/2.0 200 OK", 415),
        ("refer", "message/sipfrag", "active", b"HTTP/1.1 200 OK", 400),
        ("refer", "message/sipfrag", "active", b"\xff\xfe", 400),
    ):
        with pytest.raises(ReferError) as caught:
            parse_refer_notify(event, ctype, state, body)
        assert caught.value.status == status


def test_refer_to_with_replaces_gives_the_target_and_the_dialog_to_replace() -> None:
    # RFC 3891 §6.1's example form: the Replaces value escaped into the Refer-To URI.
    uri, replaces = refer_target(
        ["<sip:carol@h;transport=udp?Replaces=425928%40bob.example.org%3Bto-tag%3D7743"
         "%3Bfrom-tag%3D6472>"])
    assert str(uri) == "sip:carol@h;transport=udp"
    assert replaces is not None
    assert (replaces.call_id, replaces.to_tag, replaces.from_tag, replaces.early_only) == (
        "425928@bob.example.org", "7743", "6472", False)
    assert str(replaces) == "425928@bob.example.org;to-tag=7743;from-tag=6472"
