"""The user agent's one timer, fanned out to the parts that keep deadlines.

The sans-IO surface has a single timer in aioquic's shape: the adapter asks `get_timer()` when
the core next wants waking and calls `handle_timer(now)` then (sip/transport.py). Behind it,
several parts keep deadlines of their own, each with the same `get_timer`/`handle_timer` pair:

- the transaction table: the RFC 3261 §17 timers (Table 4: A-K), which run first, and whose
  events are routed (`collect`) before any other part acts, so that a part sees the outcome of
  a transaction that timed out in the same wake-up;
- each account's `Registration` (§10.2.4: refresh before the binding expires; give up on a
  REGISTER that got no answer);
- OPTIONS `Probes` (§11: the caller's timeout) and `FlowChecks` (RFC 5626 §4.4: a flow check
  that got no answer registers again);
- `SessionTimers` (RFC 4028 §10: refresh before the session expires, BYE when it has);
- `VoicemailSubscriptions` (RFC 3842: retry a message-summary subscription);
- `InDialogRequests` (§14.1 re-INVITE retry after 491, RFC 6665 §4.1.2.4 REFER's subscription).

`Wakeups` only holds the parts in that order: it owns no deadline and no state of theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class TimedPart(Protocol):
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


class Wakeups:
    def __init__(self, transactions: TimedPart, collect: Callable[[float], None],
                 parts: Callable[[], Sequence[TimedPart]]):
        self.transactions = transactions
        self.collect = collect  # routes what the transactions produced (useragent.py)
        self.parts = parts  # in the order they run after the transactions

    def get_timer(self) -> float | None:
        deadlines = [self.transactions.get_timer()]
        deadlines += [part.get_timer() for part in self.parts()]
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> None:
        self.transactions.handle_timer(now)
        self.collect(now)
        for part in self.parts():
            part.handle_timer(now)
