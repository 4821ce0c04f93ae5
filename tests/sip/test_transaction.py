"""Transactions and timers (RFC 3261 §17, RFC 6026) driven with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.transaction import (
    INITIAL_STATE,
    TRANSITIONS,
    AckReceived,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TimerConfig,
    TransactionStateError,
    TransactionTimedOut,
)

DEST = ("192.0.2.2", 5060)


def request(method: str = "INVITE", branch: str = "z9hG4bKabc") -> SipRequest:
    msg = parse_message(
        f"{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.2>\r\n"
        f"Call-ID: tx1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert isinstance(msg, SipRequest)
    return msg


def response(req: SipRequest, status: int) -> SipResponse:
    resp = SipResponse(status=status, reason="X")
    for name in ("Via", "From", "Call-ID", "CSeq"):
        resp.headers.add(name, req.headers.get(name))
    resp.headers.add("To", req.headers.get("To") + (";tag=b1" if status > 100 else ""))
    return resp


def run(tx, until: float, step: float = 0.001) -> list[float]:
    """Advance to `until`, return the times at which something was sent."""
    sent_at = []
    now = 0.0
    while True:
        deadline = tx.next_deadline()
        if deadline is None or deadline > until:
            break
        now = deadline
        tx.handle_timer(now)
        if tx.outbox:
            sent_at.append(round(now, 3))
            tx.outbox.clear()
    return sent_at


def test_invite_client_timer_a_doubles_and_timer_b_times_out():
    tx = ClientTransaction(request(), DEST, False, TimerConfig(), 0.0)
    tx.outbox.clear()
    assert run(tx, 40) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tx.state == "terminated" and tx.events == [TransactionTimedOut()]


def test_non_invite_client_timer_e_caps_at_t2_and_proceeding_uses_t2():
    tx = ClientTransaction(request("OPTIONS"), DEST, False, TimerConfig(), 0.0)
    tx.outbox.clear()
    assert run(tx, 12.6) == [0.5, 1.5, 3.5, 7.5, 11.5]
    tx2 = ClientTransaction(request("OPTIONS"), DEST, False, TimerConfig(), 0.0)
    tx2.receive_response(response(tx2.request, 100), 0.1)
    tx2.outbox.clear()
    assert run(tx2, 9.0) == [0.5, 4.5, 8.5]


def test_reliable_transport_never_retransmits():
    tx = ClientTransaction(request(), DEST, True, TimerConfig(), 0.0)
    tx.outbox.clear()
    assert run(tx, 40) == []
    assert tx.events == [TransactionTimedOut()]


def test_invite_client_acks_each_non_2xx_and_passes_only_the_first():
    tx = ClientTransaction(request(), DEST, False, TimerConfig(), 0.0)
    tx.outbox.clear()
    busy = response(tx.request, 486)
    tx.receive_response(busy, 0.2)
    tx.receive_response(busy, 0.7)  # retransmission: ACKed again, absorbed
    assert [type(e) for e in tx.events] == [ResponseReceived]
    acks = [data for data, _ in tx.outbox]
    assert (
        len(acks) == 2
        and acks[0] == acks[1]
        and acks[0].startswith(b"ACK sip:bob@192.0.2.2 SIP/2.0")
    )
    assert (
        b"branch=z9hG4bKabc" in acks[0]
        and b"CSeq: 1 ACK" in acks[0]
        and b"tag=b1" in acks[0]
    )
    tx.handle_timer(0.2 + 32.0)  # Timer D
    assert tx.state == "terminated"


def test_invite_client_accepted_state_passes_2xx_retransmissions_until_timer_m():
    tx = ClientTransaction(request(), DEST, False, TimerConfig(), 0.0)
    ok = response(tx.request, 200)
    tx.receive_response(ok, 0.1)
    tx.receive_response(ok, 0.6)
    assert [type(e) for e in tx.events] == [
        ResponseReceived,
        ResponseReceived,
    ] and tx.state == "accepted"
    tx.handle_timer(0.1 + 32.0)
    assert tx.state == "terminated"


def test_invite_server_retransmits_final_on_timer_g_until_ack_then_timer_i():
    tx = ServerTransaction(request(), DEST, False, TimerConfig(), 0.0)
    tx.send_response(response(tx.request, 100), 0.0)
    tx.receive_request(request(), 0.3)  # retransmitted INVITE -> 100 again
    assert len(tx.outbox) == 2 and tx.outbox[0] == tx.outbox[1]
    tx.outbox.clear()
    tx.send_response(response(tx.request, 486), 1.0)
    tx.outbox.clear()
    times = []
    now = 1.0
    while (deadline := tx.next_deadline()) is not None and deadline < 5.0:
        now = deadline
        tx.handle_timer(now)
        if tx.outbox:
            times.append(round(now, 3))
            tx.outbox.clear()
    assert times == [1.5, 2.5, 4.5]
    ack = request("ACK")
    tx.receive_request(ack, 5.0)
    assert tx.state == "confirmed" and AckReceived(ack) in tx.events
    tx.handle_timer(10.0)  # Timer I = T4
    assert tx.state == "terminated"


def test_invite_server_timer_h_without_ack():
    tx = ServerTransaction(request(), DEST, False, TimerConfig(), 0.0)
    tx.send_response(response(tx.request, 603), 0.0)
    for _ in range(20):
        if tx.next_deadline() is None:
            break
        tx.handle_timer(tx.next_deadline())
    assert tx.state == "terminated" and TransactionTimedOut() in tx.events


def test_non_invite_server_answers_retransmissions_and_timer_j():
    tx = ServerTransaction(request("BYE"), DEST, False, TimerConfig(), 0.0)
    tx.receive_request(request("BYE"), 0.1)  # before any response: absorbed silently
    assert tx.outbox == [] and tx.absorbed == 1
    tx.send_response(response(tx.request, 200), 0.2)
    tx.receive_request(request("BYE"), 0.3)
    assert len(tx.outbox) == 2
    tx.handle_timer(0.2 + 32.0)
    assert tx.state == "terminated"
    with pytest.raises(TransactionStateError):
        tx.send_response(response(tx.request, 200), 40.0)


def test_every_table_row_is_reachable_from_an_initial_state():
    reachable = set(INITIAL_STATE.items())
    changed = True
    while changed:
        changed = False
        for (machine, state, _), new in TRANSITIONS.items():
            if (machine, state) in reachable and (machine, new) not in reachable:
                reachable.add((machine, new))
                changed = True
    for machine, state, _ in TRANSITIONS:
        assert (machine, state) in reachable


CLIENT_EVENTS = st.lists(
    st.tuples(
        st.sampled_from([100, 180, 200, 486, 603, 302, 0]),
        st.floats(0, 5, allow_nan=False),
    ),
    max_size=15,
)


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["INVITE", "BYE"]),
    steps=CLIENT_EVENTS,
    reliable=st.booleans(),
)
def test_client_transaction_survives_any_order(method, steps, reliable):
    tx = ClientTransaction(request(method), DEST, reliable, TimerConfig(), 0.0)
    now = 0.0
    finals = 0
    for status, delta in steps:
        now += delta
        if status == 0:
            tx.handle_timer(now)
        else:
            tx.receive_response(response(tx.request, status), now)
    for event in tx.events:
        if isinstance(event, ResponseReceived) and event.response.status >= 300:
            finals += 1
    assert finals <= 1  # a non-2xx final reaches the TU at most once
    assert tx.state in {
        s for (m, _, _), s in TRANSITIONS.items() if m == tx.machine
    } | {INITIAL_STATE[tx.machine]}
    for _ in range(50):  # every machine terminates once time passes
        deadline = tx.next_deadline()
        if deadline is None:
            break
        tx.handle_timer(deadline)
    assert tx.state in ("terminated", "proceeding") or tx.next_deadline() is None


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.sampled_from(["retrans", "ack", "100", "180", "200", "486", "timer"]),
        max_size=15,
    )
)
def test_invite_server_transaction_survives_any_order(steps):
    tx = ServerTransaction(request(), DEST, False, TimerConfig(), 0.0)
    now = 0.0
    for step in steps:
        now += 0.3
        if step == "retrans":
            tx.receive_request(request(), now)
        elif step == "ack":
            tx.receive_request(request("ACK"), now)
        elif step == "timer":
            tx.handle_timer(now + 100)
        else:
            try:
                tx.send_response(response(tx.request, int(step)), now)
            except TransactionStateError:
                assert tx.state != "proceeding"
