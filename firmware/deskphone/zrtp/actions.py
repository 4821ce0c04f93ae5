"""What a phase handler asks the session to do: the handler computes, the session acts.

A handler returns a `Step`: the next state (one the table in `session.py` lists for that state
and message, or FAILED; None stays put, e.g. for a dropped or duplicate packet) and a list of
actions, carried out in order by `ZrtpSession`. Handlers never send, arm a timer or emit an event
themselves, so everything that leaves the core goes through one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import ZrtpEvent
from .retained import SecretUpdate
from .states import State


@dataclass(frozen=True)
class Send:
    message: bytes = field(repr=False)


@dataclass(frozen=True)
class ArmT1:
    """§6: resend `message` on timer T1 until `what` arrives (Hello)."""

    message: bytes = field(repr=False)
    what: str


@dataclass(frozen=True)
class ArmT2:
    """§6: resend `message` on timer T2 until `what` arrives (Commit, DHPart2, Confirm2, Error)."""

    message: bytes = field(repr=False)
    what: str


@dataclass(frozen=True)
class StopTimer:
    pass


@dataclass(frozen=True)
class Fail:
    """End the handshake: NotSecure(reason); with `error_code`, also send Error (§5.9)."""

    reason: str
    error_code: int | None = None
    possible_attack: bool = False  # NotSecure.possible_attack (§8.1.1)


@dataclass(frozen=True)
class Emit:
    event: ZrtpEvent


@dataclass(frozen=True)
class StoreSecret:
    update: SecretUpdate


Action = Send | ArmT1 | ArmT2 | StopTimer | Fail | Emit | StoreSecret


@dataclass
class Step:
    next_state: State | None = None
    actions: list[Action] = field(default_factory=list)


STAY = None  # Step(STAY): the packet changed nothing (dropped and counted, or a duplicate)


def fail(reason: str, error_code: int | None = None, *, possible_attack: bool = False) -> Step:
    return Step(State.FAILED, [Fail(reason, error_code, possible_attack)])
