"""Issue 16 item 1 (SIP core): a genuine call gets through a flood from strangers (admission.py).

The strangers' share of server transactions (`max_server_transactions`) can be filled by a flood
from many sources; sources the phone knows (its registrars as resolved, LAN directory peers,
dialog peers) have a reserve on top, and within the strangers' share one source holds at most
`max_server_transactions_per_source`.
"""

from __future__ import annotations

from deskphone.sip import events as ev
from tests.sip.pair import drain
from tests.sip.test_flood_caps import CAP, STRANGERS, _flood
from tests.sip.test_hostile_input import (
    PAST_ALL_TIMERS,
    _invite,
    _request,
    _responses,
    _run_out_timers,
    _ua,
)

REGISTRAR = ("203.0.113.5", 5060)
LAN_PEER = ("192.168.1.20", 5060)
RESERVE = 4
PER_SOURCE = 3


def _flooded_ua():
    ua = _ua(max_server_transactions=CAP, known_server_transactions=RESERVE,
             max_server_transactions_per_source=PER_SOURCE)
    ua.admission.set_known("registrars", [REGISTRAR[0]])
    ua.admission.set_known("lan", [LAN_PEER[0]])
    _flood(ua, 300)
    assert ua.admission.strangers_open == CAP == ua.table.server_count
    return ua


def test_an_invite_from_the_registrar_rings_while_strangers_fill_their_share():
    ua = _flooded_ua()
    # A stranger's INVITE now: one stateless 503 with Retry-After, nothing rings.
    ua.receive_datagram(_invite("stranger-call"), ("198.51.100.200", 5060), 1.0)
    (refused,) = _responses(ua, 1.0)
    assert refused.status == 503 and refused.headers.get("Retry-After")
    assert drain(ua) == []
    # The registrar's INVITE: a server transaction of the reserve, and the phone rings.
    ua.receive_datagram(_invite("genuine"), REGISTRAR, 1.0)
    (trying,) = _responses(ua, 1.0)
    assert trying.status == 100 and trying.call_id == "genuine"
    (incoming,) = drain(ua)
    assert isinstance(incoming, ev.IncomingCall) and incoming.call_id == "genuine"
    ua.ringing("genuine", 1.0)
    assert [r.status for r in _responses(ua, 1.0)] == [180]
    assert ua.admission.known_open == 1 and ua.table.server_count == CAP + 1
    # The same from a LAN directory peer.
    ua.receive_datagram(_invite("lan-call"), LAN_PEER, 1.1)
    assert [r.status for r in _responses(ua, 1.1)] == [100]
    assert [type(e) for e in drain(ua)] == [ev.IncomingCall]


def test_the_known_reserve_is_bounded_too_and_then_falls_back_to_the_strangers_share():
    """A flood with the registrar's address forged as source (UDP allows it) fills the reserve;
    then those requests are strangers' again: memory stays bounded by both shares."""
    ua = _flooded_ua()
    for i in range(50):
        ua.receive_datagram(_request("OPTIONS", f"forged-{i}"), REGISTRAR, 2.0)
    assert ua.admission.known_open == RESERVE
    assert ua.table.server_count == CAP + RESERVE
    statuses = [r.status for r in _responses(ua, 2.0)]
    assert statuses == [200] * 50  # OPTIONS answered, stateful or stateless, once each
    assert ua.stats.stateless_answered == 300 - CAP + 50 - RESERVE


def test_one_source_holds_no_more_than_its_per_source_limit():
    ua = _ua(max_server_transactions=CAP, max_server_transactions_per_source=PER_SOURCE)
    one = STRANGERS[0]
    for i in range(40):
        ua.receive_datagram(_invite(f"one-{i}"), one, 0.0)
    for event in drain(ua):
        ua.reject(event.call_id, 486, 0.0)
    assert ua.table.server_count == PER_SOURCE and len(ua.calls) == PER_SOURCE
    assert ua.stats.stateless_answered == 40 - PER_SOURCE
    # Another stranger still finds room in the strangers' share, and rings.
    ua.receive_datagram(_invite("other"), STRANGERS[1], 0.1)
    assert [type(e) for e in drain(ua)] == [ev.IncomingCall]
    assert ua.admission.strangers_open == PER_SOURCE + 1
    # Once the source's transactions end (Timer H/J), it has its share again: no entry left.
    ua.reject("other", 486, 0.1)
    _run_out_timers(ua, 0.1, PAST_ALL_TIMERS)
    assert ua.table.server_count == 0 and ua.admission.strangers_open == 0
    assert ua.admission.known_open == 0 and ua.admission._per_source == {}
    ua.receive_datagram(_invite("one-again"), one, PAST_ALL_TIMERS)
    assert [type(e) for e in drain(ua)] == [ev.IncomingCall]


def test_the_peer_of_a_dialog_we_have_is_known():
    ua = _ua(max_server_transactions=CAP, known_server_transactions=RESERVE,
             max_server_transactions_per_source=PER_SOURCE)
    peer = ("192.0.2.9", 5070)  # where _request's Via sends replies: the call's address
    ua.receive_datagram(_invite("real"), peer, 0.0)
    drain(ua)
    assert not ua.admission.is_known(peer[0], 0.0)  # ringing: not yet a dialog
    ua.answer("real", b"v=0\r\n", 0.0)
    ok = [r for r in _responses(ua, 0.0) if r.status == 200][0]
    ua.receive_datagram(_request("ACK", "real", branch="z9hG4bKrealACK", to_tag=ok.to.tag),
                        peer, 0.1)
    assert ua.admission.is_known(peer[0], 1.0)
    _flood(ua, 300, now=1.0)
    # A second call from the same peer (call waiting) during the flood rings.
    ua.receive_datagram(_invite("second"), peer, 1.2)
    assert [type(e) for e in drain(ua)] == [ev.IncomingCall]
    assert ua.admission.known_open == 1
