"""One call leg as the call layer sees it, and everything that affects its state, in one place.

(`LegState` is the call layer's; the phone has its own `phone.machine.CallState`, what the
person sees: idle, dialing, in_call... One leg per ActiveCall; a transfer holds two.)

Like h11's `_state.py`: the table's values are the *next* states, so reading `TRANSITIONS` tells
where an input leads; an input that is not in the table for the current state raises
`CallTransitionError` naming both. The manager (manager.py) computes; the table decides.

    outgoing:  OPENING_MEDIA --invite_sent--> INVITING --answer_received--> KEYING
    incoming:  RINGING --answer_requested--> ANSWERING --answer_sent--> AWAITING_ACK
               AWAITING_ACK --peer_has_answer (the ACK, RFC 3261 §13.3.1.4)--> KEYING
    both:      KEYING --secured (RFC 6189 §4.6: Confirm exchange done)--> SECURE
               KEYING --cleartext (ZRTP failed, NOT SECURE allowed)--> NOT_SECURE
               any state --end--> ENDED

The callee's ZRTP may start before the ACK arrives (the caller's first ZRTP packet proves it has
our answer, see zrtp_driver.py), so AWAITING_ACK also takes the ZRTP outcomes, and an ACK that
comes after them changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from deskphone.calls.peer_identity import LanExpectation
from deskphone.calls.zrtp_driver import ZrtpDriver
from deskphone.media.stream import MediaStream
from deskphone.sdp import Negotiated, OfferAnswer

if TYPE_CHECKING:  # the agent (aioice) is imported by the calls that gather (call_ice.py)
    from deskphone.media.ice.agent import IceAgent

log = logging.getLogger(__name__)


class LegState(StrEnum):
    OPENING_MEDIA = "opening_media"  # outgoing: binding the media port before the INVITE
    INVITING = "inviting"  # outgoing: INVITE sent, waiting for the answer
    RINGING = "ringing"  # incoming: 180 sent, waiting for the person
    ANSWERING = "answering"  # incoming: opening media, writing the SDP answer
    AWAITING_ACK = "awaiting_ack"  # incoming: 200 OK sent; ZRTP waits until the caller has it
    KEYING = "keying"  # media started, ZRTP key agreement under way; no audio yet
    SECURE = "secure"  # SRTP keys in place (ZRTP Secure or CacheMismatch)
    NOT_SECURE = "not_secure"  # ZRTP failed and the settings let the call go on in the clear
    ENDED = "ended"


class LegInput(StrEnum):
    INVITE_SENT = "invite_sent"
    ANSWER_RECEIVED = "answer_received"  # a usable SDP answer to our INVITE
    ANSWER_REQUESTED = "answer_requested"  # the person picked up
    ANSWER_SENT = "answer_sent"  # our 200 OK with the SDP answer went out
    PEER_HAS_ANSWER = "peer_has_answer"  # the ACK: ZRTP may start (RFC 6189 §4.1)
    SECURED = "secured"
    CLEARTEXT = "cleartext"
    END = "end"


St, In = LegState, LegInput
_AFTER_ANSWER = {In.PEER_HAS_ANSWER: St.KEYING, In.SECURED: St.SECURE, In.CLEARTEXT: St.NOT_SECURE,
                 In.END: St.ENDED}
TRANSITIONS: dict[LegState, dict[LegInput, LegState]] = {
    St.OPENING_MEDIA: {In.INVITE_SENT: St.INVITING, In.END: St.ENDED},
    St.INVITING: {In.ANSWER_RECEIVED: St.KEYING, In.END: St.ENDED},
    St.RINGING: {In.ANSWER_REQUESTED: St.ANSWERING, In.END: St.ENDED},
    St.ANSWERING: {In.ANSWER_SENT: St.AWAITING_ACK, In.END: St.ENDED},
    St.AWAITING_ACK: _AFTER_ANSWER,
    St.KEYING: _AFTER_ANSWER,
    St.SECURE: {In.PEER_HAS_ANSWER: St.SECURE, In.END: St.ENDED},
    St.NOT_SECURE: {In.PEER_HAS_ANSWER: St.NOT_SECURE, In.END: St.ENDED},
    St.ENDED: {In.END: St.ENDED},  # hanging up twice (the person and the network) is one end
}
del St, In

# States in which the call has negotiated media (a hold, a transfer, DTMF make sense).
ANSWERED_STATES = frozenset({LegState.KEYING, LegState.SECURE, LegState.NOT_SECURE,
                             LegState.AWAITING_ACK})


class CallTransitionError(RuntimeError):
    """An input the table has no row for in the call's current state."""


@dataclass
class ActiveCall:
    call_id: str
    outgoing: bool
    peer: str
    offer_answer: OfferAnswer
    state: LegState
    remote_offer: bytes | None = None
    media: MediaStream | None = None
    zrtp: ZrtpDriver | None = None
    negotiated: Negotiated | None = None
    direction: str = "sendrecv"
    lan: LanExpectation | None = None  # what the LAN said of the callee
    replaces: str | None = None  # outgoing, attended transfer: the Replaces it carries (RFC 3891)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    zrtp_events: asyncio.Task[None] | None = None  # reads zrtp.events until the call ends
    ice: IceAgent | None = None  # RFC 8445 for the audio stream (call_ice.py), None: no ICE
    ice_ready: bool = False  # the stream is on the nominated pair
    zrtp_after_ice: bool = False  # the ACK came before the pair: ZRTP starts on it

    @property
    def ended(self) -> bool:
        return self.state is LegState.ENDED

    def accepts(self, what: LegInput) -> bool:
        return what in TRANSITIONS[self.state]

    def move(self, what: LegInput) -> LegState:
        """Apply one input; the table gives the next state."""
        try:
            self.state = TRANSITIONS[self.state][what]
        except KeyError:
            raise CallTransitionError(
                f"call {self.call_id or '(no id yet)'}: input {what.value!r} in state "
                f"{self.state.value!r}, expected one of "
                f"{sorted(i.value for i in TRANSITIONS[self.state])}") from None
        return self.state

    def advance(self, what: LegInput) -> None:
        """An input from the network: out of order, it is logged and changes nothing."""
        if self.accepts(what):
            self.move(what)
        else:
            log.warning("call %s: %s in state %s ignored", self.call_id, what.value,
                        self.state.value)
