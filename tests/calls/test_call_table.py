"""The per-call state table (deskphone.calls.call), read like h11's: where does each input lead?"""

from __future__ import annotations

import pytest

from deskphone.calls.call import (
    TRANSITIONS,
    ActiveCall,
    CallTransitionError,
    LegInput,
    LegState,
)
from deskphone.sdp import OfferAnswer


def new_call(state: LegState) -> ActiveCall:
    return ActiveCall(call_id="c1", outgoing=True, peer="201", offer_answer=OfferAnswer(),
                      state=state)


def run(state: LegState, *inputs: LegInput) -> LegState:
    call = new_call(state)
    for what in inputs:
        call.move(what)
    return call.state


def test_every_state_has_a_row_and_every_state_can_end() -> None:
    assert set(TRANSITIONS) == set(LegState)
    for state, row in TRANSITIONS.items():
        assert row[LegInput.END] is LegState.ENDED, state


def test_outgoing_call_to_secure() -> None:
    assert run(LegState.OPENING_MEDIA, LegInput.INVITE_SENT, LegInput.ANSWER_RECEIVED,
               LegInput.SECURED) is LegState.SECURE


def test_incoming_call_to_not_secure_through_the_ack() -> None:
    assert run(LegState.RINGING, LegInput.ANSWER_REQUESTED, LegInput.ANSWER_SENT,
               LegInput.PEER_HAS_ANSWER, LegInput.CLEARTEXT) is LegState.NOT_SECURE


def test_callee_keyed_before_the_ack_stays_secure_when_the_ack_comes() -> None:
    # The caller's ZRTP reached us before its ACK (RFC 6189 §4.1: it has our answer).
    assert run(LegState.AWAITING_ACK, LegInput.SECURED,
               LegInput.PEER_HAS_ANSWER) is LegState.SECURE


def test_an_input_without_a_row_names_the_state_and_the_input() -> None:
    call = new_call(LegState.RINGING)
    with pytest.raises(CallTransitionError, match="'secured' in state 'ringing'"):
        call.move(LegInput.SECURED)
    assert call.state is LegState.RINGING
    assert not call.accepts(LegInput.SECURED)


def test_network_input_out_of_order_changes_nothing() -> None:
    call = new_call(LegState.ENDED)
    call.advance(LegInput.SECURED)  # a late ZRTP result for a call already over
    assert call.state is LegState.ENDED and call.ended


def test_no_flags_left_beside_the_state() -> None:
    fields = set(ActiveCall.__dataclass_fields__)
    assert not fields & {"ended", "secured", "zrtp_started", "prepared"}
