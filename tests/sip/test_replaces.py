"""INVITE with Replaces (RFC 3891 §3) between two in-process user agents, fake clock."""

from __future__ import annotations

import pytest

from deskphone.sip import events as ev
from deskphone.sip.replaces import Replaces, ReplacesError, parse_replaces, replaces_for
from tests.sip.pair import Network, drain, sent_lines
from tests.sip.test_useragent_pair import OFFER, _connected_call


def test_an_invite_replacing_our_dialog_names_it_and_one_naming_nothing_gets_481() -> None:
    net = Network()
    alice, bob, call_id = _connected_call(net)  # alice 5061 called bob 5062
    # What alice's dialog looks like from bob's side: bob's tag is the to-tag.
    replaces = alice.dialog_replaces(call_id, net.now)
    new_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now, replaces=replaces)
    net.pump()
    arrived = [e for e in drain(bob) if isinstance(e, ev.IncomingCall)]
    assert [(e.call_id, e.replaces) for e in arrived] == [(new_id, call_id)]

    for wrong in (Replaces(call_id, "nope", "nope"),  # tags of no dialog of ours
                  Replaces("stranger@h", "a", "b")):  # another call altogether
        alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now, replaces=str(wrong))
        net.pump()
        assert not [e for e in drain(bob) if isinstance(e, ev.IncomingCall)]
    assert sum(line.startswith("SIP/2.0 481") for line in sent_lines(net, 5062)) == 2

    # early-only names a confirmed dialog: 486 (§3)
    early_only = str(parse_replaces(replaces + ";early-only"))
    alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now, replaces=early_only)
    net.pump()
    assert any(line.startswith("SIP/2.0 486") for line in sent_lines(net, 5062))


def test_an_early_dialog_someone_else_is_ringing_us_with_cannot_be_replaced() -> None:
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    ringing = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    drain(bob)
    bob.ringing(ringing, net.now)
    net.pump()
    call = bob.calls[ringing]
    # Bob is the UAS of this early dialog: RFC 3891 §3 says 481, so nobody can steal the call.
    forged = Replaces(ringing, call.local_tag, call.invite.from_.tag or "")
    alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now, replaces=str(forged))
    net.pump()
    assert [e.call_id for e in drain(bob) if isinstance(e, ev.IncomingCall)] == []
    assert any(line.startswith("SIP/2.0 481") for line in sent_lines(net, 5062))


@pytest.mark.parametrize("value", ["", "only-a-call-id", "x;to-tag=1", "x;from-tag=2",
                                   "a b;to-tag=1;from-tag=2"])
def test_malformed_replaces_is_400(value: str) -> None:
    with pytest.raises(ReplacesError) as caught:
        parse_replaces(value)
    assert caught.value.status == 400


def test_replaces_round_trip_and_escaping() -> None:
    r = replaces_for("425928@bob.example.org", local_tag="6472", remote_tag="7743")
    assert str(r) == "425928@bob.example.org;to-tag=7743;from-tag=6472"
    assert r.as_uri_header() == "425928%40bob.example.org%3Bto-tag%3D7743%3Bfrom-tag%3D6472"
    assert parse_replaces(str(r)) == r


def test_a_refer_from_a_party_not_in_the_call_is_refused_481() -> None:
    """Bad input (issue 15): a REFER naming our Call-ID but not our dialog's tags (someone who
    is not the far end of this call) is refused, and no transfer starts (RFC 3261 §12.2.2)."""
    net = Network()
    alice, bob, call_id = _connected_call(net)
    call = alice.calls[call_id]
    assert call.dialog is not None
    refer = call.dialog.build_request("REFER")
    alice.builder.add_via(refer)
    refer.headers.set("From", f"<sip:mallory@127.0.0.1:5061>;tag=not-{call.dialog.local_tag}")
    refer.headers.add("Refer-To", "<sip:carol@127.0.0.1:5063>")
    alice.table.start_client(refer, ("127.0.0.1", 5062), net.now)
    net.pump()
    assert any(line.startswith("SIP/2.0 481") for line in sent_lines(net, 5062))
    assert not any(isinstance(e, ev.TransferRequested) for e in drain(bob))
