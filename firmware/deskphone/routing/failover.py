"""Registrar failover for one account (sans-IO: events out, `now` in, no clock, no socket).

Theory of operation
-------------------
An account has an ordered list of registrars, the first being the primary. We register with
one at a time ("current"). When it stops answering — a transaction timeout (RFC 3261 §17.1.2.2,
Timer F) or transport error — or answers 5xx, we move to the next one and register there
(`RegisterWith(reason="failover")`). A 503 with Retry-After marks that registrar unusable until
then (RFC 3261 §21.5.4). 4xx/6xx answers are not failures of the server but of our request
(wrong credentials, unknown user): every registrar would say the same, so they do not move us.

While registered anywhere but the primary, the primary is probed every `probe_interval`
seconds (`ProbeRegistrar`, answered with `probe_result`); when it answers we register there
again (`reason="fallback"`) and, once that succeeds, remove the binding left on the secondary
(`Unregister`).

When every registrar has failed in a row we wait before starting over at the primary, with the
RFC 5626 §4.5 back-off: wait = min(max_time, base * 2^(failures-1)), scaled by a random factor
in [0.5, 1] so that a room of phones does not come back in lockstep after a power cut.

Driving it: call `start(now)`, then feed `registration_succeeded` / `registration_failed` /
`probe_result`; pop `next_event()` until None; wake at `get_timer()` and call `handle_timer`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from deskphone.routing.events import (
    AllRegistrarsDown,
    ProbeRegistrar,
    RegisterWith,
    RoutingEvent,
    Unregister,
)


@dataclass(frozen=True)
class FailoverConfig:
    probe_interval: float = 120.0          # primary check while on a secondary
    # RFC 5626 §4.5: base-time 30 s when all flows failed, max-time 1800 s.
    backoff_base: float = 30.0
    backoff_max: float = 1800.0
    # Injected so tests are deterministic; returns a float in [0, 1).
    random: Callable[[], float] = field(default=random.random, compare=False)


class RegistrarFailover:
    def __init__(self, account: str, registrars: Sequence[str],
                 config: FailoverConfig | None = None) -> None:
        if not registrars:
            raise ValueError(f"account {account!r}: registrars is empty, expected at least one")
        if len(set(registrars)) != len(registrars):
            raise ValueError(f"account {account!r}: registrars {list(registrars)!r} repeat one")
        self.account = account
        self.registrars = tuple(registrars)
        self.config = config or FailoverConfig()
        self.current_index = 0
        self.registered = False
        self.consecutive_failures = 0          # failed attempts since the last success
        self.failover_count = 0
        self._round_failures = 0               # failures since the last start/retry/success
        self._failed_rounds = 0                # whole rounds failed since the last success
        self._unusable_until: dict[str, float] = {}
        self._retry_at: float | None = None
        self._probe_at: float | None = None
        self._probing = False
        self._leave_behind: str | None = None  # registrar to unregister from after fallback
        self._events: deque[RoutingEvent] = deque()

    @property
    def current(self) -> str:
        return self.registrars[self.current_index]

    @property
    def primary(self) -> str:
        return self.registrars[0]

    # --- inputs -----------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self.current_index = 0
        self._events.append(RegisterWith(self.account, self.current, "start"))

    def registration_succeeded(self, registrar: str, now: float) -> None:
        if registrar != self.current:
            return   # a late answer from a registrar we already left
        self.registered = True
        self.consecutive_failures = 0
        self._round_failures = self._failed_rounds = 0
        self._retry_at = None
        if self._leave_behind is not None and self._leave_behind != registrar:
            self._events.append(Unregister(self.account, self._leave_behind))
        self._leave_behind = None
        self._probe_at = None if self.current_index == 0 else now + self.config.probe_interval

    def registration_failed(self, registrar: str, status: int | None, now: float,
                            retry_after: float | None = None) -> None:
        """status None = no answer (transaction timeout, transport error); else the final code."""
        if registrar != self.current:
            return
        if status is not None and not 500 <= status <= 599:
            # Our request is wrong (403, 404, 423 handled by the UA): not the server's fault.
            return
        if status == 503 and retry_after is not None and retry_after > 0:
            self._unusable_until[registrar] = now + retry_after   # RFC 3261 §21.5.4
        self.registered = False
        self.consecutive_failures += 1
        self._round_failures += 1
        self._probe_at = None
        self._probing = False
        if self._leave_behind == registrar:
            self._leave_behind = None
        self._move_on(now)

    def probe_result(self, registrar: str, answered: bool, now: float) -> None:
        """The primary answered the probe (any response counts: RFC 3261 §11 — it is alive)."""
        if not self._probing or registrar != self.primary:
            return
        self._probing = False
        if answered and self.current_index != 0:
            self._leave_behind = self.current if self.registered else None
            self.current_index = 0
            self.registered = False
            self._probe_at = None
            self._events.append(RegisterWith(self.account, self.primary, "fallback"))
        else:
            self._probe_at = now + self.config.probe_interval

    # --- timers -----------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        timers = [t for t in (self._retry_at, self._probe_at) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._round_failures = 0
            self.current_index = self._first_usable(0, now)
            self._events.append(RegisterWith(self.account, self.current, "retry"))
        if self._probe_at is not None and now >= self._probe_at:
            self._probe_at = None
            if self.current_index != 0 and self._usable(self.primary, now):
                self._probing = True
                self._events.append(ProbeRegistrar(self.account, self.primary))
            elif self.current_index != 0:
                self._probe_at = max(now + self.config.probe_interval,
                                     self._unusable_until.get(self.primary, now))

    def next_event(self) -> RoutingEvent | None:
        return self._events.popleft() if self._events else None

    # --- helpers ----------------------------------------------------------------------------

    def _usable(self, registrar: str, now: float) -> bool:
        return self._unusable_until.get(registrar, 0.0) <= now

    def _first_usable(self, start: int, now: float) -> int:
        for index in range(start, len(self.registrars)):
            if self._usable(self.registrars[index], now):
                return index
        return start

    def _move_on(self, now: float) -> None:
        # Each registrar gets one try per round; a whole failed round means back off.
        if self._round_failures < len(self.registrars):
            for step in range(1, len(self.registrars)):
                index = (self.current_index + step) % len(self.registrars)
                if self._usable(self.registrars[index], now):
                    self.current_index = index
                    self.failover_count += 1
                    self._events.append(RegisterWith(self.account, self.current, "failover"))
                    return
        self._failed_rounds += 1
        self._retry_at = now + self._backoff()
        self._events.append(AllRegistrarsDown(self.account, self._retry_at))

    def _backoff(self) -> float:
        exponent = min(self._failed_rounds - 1, 16)
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2**exponent)
        return ceiling * (0.5 + 0.5 * self.config.random())
