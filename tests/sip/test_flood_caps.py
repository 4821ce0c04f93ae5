"""Issue 16 item 1 (SIP core): what a flood of fresh requests may hold, and what it gets back.

Past `max_server_transactions` open server transactions, new out-of-dialog requests are answered
the way RFC 3261 §8.2.7 lets a stateless UAS answer: one response, no 1xx, no retransmission, no
state, the same To tag for a retransmission; an INVITE gets 503 with Retry-After (§21.5.4). The
call that is up keeps its stateful handling.
"""

from __future__ import annotations

from deskphone.sip import events as ev
from deskphone.sip.message import parse_message
from tests.sip.pair import drain
from tests.sip.test_hostile_input import (
    PAST_ALL_TIMERS,
    PEER,
    _invite,
    _request,
    _responses,
    _run_out_timers,
    _ua,
)

CAP = 16


# Strangers, as in a real flood (deskphone_tools.flood): many source addresses, none of them the
# peer of a call, so each holds at most its per-source share (admission.py) and together they
# fill the strangers' share.
STRANGERS = [(f"198.51.100.{i}", 5060) for i in range(1, 65)]


def _flood(ua, count: int, now: float = 0.0) -> list:
    """`count` fresh INVITEs, OPTIONS and BYEs for unknown dialogs, in turn, from the
    strangers in turn; every response."""
    responses = []
    for i in range(count):
        kind = i % 3
        source = STRANGERS[i % len(STRANGERS)]
        if kind == 0:
            ua.receive_datagram(_invite(f"f-{i}"), source, now)
        elif kind == 1:
            ua.receive_datagram(_request("OPTIONS", f"f-{i}"), source, now)
        else:
            ua.receive_datagram(_request("BYE", f"f-{i}", to_tag="gone"), source, now)
        for event in drain(ua):
            if isinstance(event, ev.IncomingCall):
                ua.reject(event.call_id, 486, now)
        responses += _responses(ua, now)
        assert ua.table.server_count <= CAP
    return responses


def test_flood_past_the_cap_holds_no_more_state_and_gets_one_answer_each():
    ua = _ua(max_server_transactions=CAP)
    responses = _flood(ua, 600)
    assert len(ua.transactions) == CAP and len(ua.calls) <= CAP
    assert ua.stats.stateless_answered == 600 - CAP
    stateless = responses[-300:]  # long past the cap: one final answer per request, no 100
    statuses = {(r.cseq.method, r.status) for r in stateless}
    assert statuses == {("INVITE", 503), ("OPTIONS", 200), ("BYE", 481)}
    per_request = {}
    for r in stateless:
        per_request[r.call_id] = per_request.get(r.call_id, 0) + 1
    assert set(per_request.values()) == {1} and len(per_request) == 300
    assert all(r.headers.get("Retry-After") for r in stateless if r.status == 503)
    # The statelessly refused send nothing more: only the CAP stateful ones retransmit.
    _run_out_timers(ua, 0.0, PAST_ALL_TIMERS)
    assert ua.calls == {} and ua.transactions == {} and ua.table.server_count == 0


def test_a_retransmission_answered_statelessly_gets_the_same_tag():
    ua = _ua(max_server_transactions=CAP)
    _flood(ua, CAP)
    ua.receive_datagram(_invite("again"), PEER, 0.0)
    ua.receive_datagram(_invite("again"), PEER, 0.5)
    first, second = _responses(ua, 0.5)
    assert first.status == second.status == 503
    assert first.to.tag and first.to.tag == second.to.tag
    assert drain(ua) == []  # no IncomingCall: nothing rings for a refused INVITE
    # ACK for it and a CANCEL matching nothing are ignored (§8.2.7), not answered.
    ua.receive_datagram(_request("ACK", "again", branch="z9hG4bKagainINVITE",
                                 to_tag=first.to.tag), PEER, 0.6)
    ua.receive_datagram(_request("CANCEL", "again", branch="z9hG4bKagainINVITE"), PEER, 0.6)
    assert _responses(ua, 0.6) == [] and ua.stats.overload_dropped == 2


def test_the_call_that_is_up_stays_stateful_under_the_flood():
    ua = _ua(max_server_transactions=CAP)
    ua.receive_datagram(_invite("real"), PEER, 0.0)
    assert isinstance(ua.next_event(), ev.IncomingCall)
    ua.answer("real", b"v=0\r\n", 0.0)
    ok = [r for r in _responses(ua, 0.0) if r.status == 200][0]
    ua.receive_datagram(_request("ACK", "real", branch="z9hG4bKrealACK",
                                 to_tag=ok.to.tag), PEER, 0.1)
    drain(ua)
    _flood(ua, 300, now=0.2)
    assert ua.table.server_count == CAP
    ua.receive_datagram(_request("BYE", "real", cseq=2, to_tag=ok.to.tag), PEER, 0.3)
    (bye_ok,) = _responses(ua, 0.3)
    assert bye_ok.status == 200 and bye_ok.call_id == "real"
    assert [type(e) for e in drain(ua)] == [ev.CallEnded]


def test_responses_are_parseable_sip():
    ua = _ua(max_server_transactions=1)
    ua.receive_datagram(_request("OPTIONS", "o1"), PEER, 0.0)
    ua.receive_datagram(_request("REGISTER", "r1"), PEER, 0.0)
    out = ua.datagrams_to_send(0.0)
    assert [parse_message(d).status for d, _ in out] == [200, 405]
