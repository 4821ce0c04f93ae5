"""ZRTP retransmission timers T1 and T2 (RFC 6189 §6), and the handshake guard.

Hello is retransmitted on T1 until HelloACK (or a Commit, which implies it). Only the initiator
retransmits Commit, DHPart2 and Confirm2, on T2; the responder answers a retransmission by
resending its last reply. An Error is retransmitted on T2 until ErrorACK. Each interval doubles
up to its cap, for a bounded number of retransmissions; the session decides what giving up means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import packets
from .actions import STAY, Send, Step, fail
from .confirm import on_conf2ack_missing
from .handshake import Handshake
from .states import State

T1_CAP = 0.2  # §6: Hello retransmission interval doubles up to 200 ms
T1_MAX_RETRANSMISSIONS = 20
T2_CAP = 1.2  # §6: Commit/DHPart2/Confirm2 interval doubles up to 1200 ms
T2_MAX_RETRANSMISSIONS = 10
HANDSHAKE_TIMEOUT = 30.0  # guard for a peer that acknowledged our Hello and then went silent


@dataclass
class Retransmission:
    """One message resent until `what` (the reply that acknowledges it) arrives."""

    message: bytes = field(repr=False)
    deadline: float
    interval: float
    cap: float
    remaining: int
    what: str

    @classmethod
    def on_t1(cls, message: bytes, now: float, t1: float, what: str) -> Retransmission:
        """§6: Hello, first resent after T1 (the configured initial interval)."""
        return cls(message, now + t1, t1, T1_CAP, T1_MAX_RETRANSMISSIONS, what)

    @classmethod
    def on_t2(cls, message: bytes, now: float, t2: float, what: str) -> Retransmission:
        """§6: Commit, DHPart2, Confirm2 (initiator only) and Error, first resent after T2."""
        return cls(message, now + t2, t2, T2_CAP, T2_MAX_RETRANSMISSIONS, what)

    def is_due(self, now: float) -> bool:
        return now >= self.deadline

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0

    def back_off(self, now: float) -> None:
        """Count one retransmission sent now; the next waits twice as long, up to the cap."""
        self.remaining -= 1
        self.interval = min(2 * self.interval, self.cap)
        self.deadline = now + self.interval


def on_guard_expired(hs: Handshake) -> Step:
    """The whole handshake took longer than HANDSHAKE_TIMEOUT."""
    if hs.state in (State.SECURE, State.FAILED):
        return Step(STAY)
    if hs.state is State.CONFIRM2_SENT:
        return on_conf2ack_missing(hs, 0.0)  # Confirm1 verified: §4.6, never back to cleartext
    return fail(f"ZRTP handshake did not finish in {HANDSHAKE_TIMEOUT:g} s",
                packets.ERROR_PROTOCOL_TIMEOUT)


def on_retransmission_due(hs: Handshake, timer: Retransmission, now: float) -> Step:
    """Resend the pending message (backing off), or give up once the retransmissions are spent."""
    if timer.exhausted:
        if hs.state is State.DISCOVERY and hs.peer_hello is None:
            return fail("no ZRTP answer from the peer (Hello not acknowledged)")
        if hs.state is State.FAILED:
            return Step(STAY)  # our Error was never acknowledged; nothing more to do
        if hs.state is State.CONFIRM2_SENT:
            return on_conf2ack_missing(hs, now)  # §4.6: never back to cleartext from here
        return fail(f"timed out waiting for {timer.what}", packets.ERROR_PROTOCOL_TIMEOUT)
    timer.back_off(now)
    hs.stats.retransmitted += 1
    return Step(STAY, [Send(timer.message)])
