"""`wait KEY=VALUE...` of the control socket: waiting until the phone's state says so.

`StateWaiters` keeps the pending waits (its own state) and is told to look again after every
batch of commands and every 100 ms (media counters change without an event); it reads the
state through the function it was given, so it knows nothing of the app. A wait that times out
raises `WaitTimedOut`, which the app words for the person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

State = dict[str, Any]

RECHECK_SECONDS = 0.1


class WaitTimedOut(Exception):
    pass


class StateWaiters:
    def __init__(self, state: Callable[[], State]) -> None:
        self.state = state
        self._waiters: list[tuple[dict[str, str], asyncio.Future[State]]] = []

    def check(self) -> None:
        if not self._waiters:
            return
        state = self.state()
        still = []
        for conditions, fut in self._waiters:
            if fut.done():
                continue
            if matches(state, conditions):
                fut.set_result(state)
            else:
                still.append((conditions, fut))
        self._waiters = still

    def fail_all(self, error: Exception) -> None:
        """The phone stops: every pending wait ends with `error`."""
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(error)
        self._waiters = []

    async def wait(self, conditions: dict[str, str], timeout: float) -> State:
        state = self.state()
        if matches(state, conditions):
            return state
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[State] = loop.create_future()
        self._waiters.append((conditions, fut))
        recheck = loop.create_task(self._recheck(fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise WaitTimedOut(conditions) from None
        finally:
            recheck.cancel()

    async def _recheck(self, fut: asyncio.Future[State]) -> None:
        # Media counters and the like change without an event: look again every 100 ms.
        while not fut.done():
            await asyncio.sleep(RECHECK_SECONDS)
            self.check()


def matches(state: State, conditions: dict[str, str]) -> bool:
    """KEY=VALUE: equal (case-insensitive); VALUE may be `a|b` (any of), `~text` (contains),
    `>N` (a number above N) or `null`. KEY may reach into a table: `media.packets_received`."""
    return all(any(_matches_one(_lookup(state, key), alt) for alt in want.split("|"))
               for key, want in conditions.items())


def _lookup(state: State, key: str) -> Any:
    value: Any = state
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _matches_one(have: Any, want: str) -> bool:
    if want == "null":
        return have is None
    if want.startswith(">"):
        try:
            return isinstance(have, int | float) and have > float(want[1:])
        except ValueError:
            return False
    if want.startswith("~"):
        return have is not None and want[1:].lower() in str(have).lower()
    if isinstance(have, bool):
        return want.lower() == str(have).lower()
    return str(have).lower() == want.lower()
