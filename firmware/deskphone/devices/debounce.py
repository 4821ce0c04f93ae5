"""A sans-IO debouncer: raw levels and `now` in, settled level changes out.

Mechanical contacts (a hook switch, a keypad dome) bounce for a few milliseconds when they close
or open. The rule used here is the integrating one: the settled level changes only after the raw
level has held the new value, without any interruption, for `settle_s` seconds. A bounce train
restarts the wait at every edge, and a glitch shorter than `settle_s` is never reported. The cost
is latency: a clean change is reported `settle_s` after it happened.

The debouncer never reads a clock. Feed it every sample or edge with `update(level, now)`; if the
input goes quiet, `get_timer()` says when the pending level will have settled and `poll(now)`
confirms it. gpiozero's mock pins ignore `bounce_time`, so this is where debouncing lives.
"""

from __future__ import annotations

# Times are floats; a level held for "exactly" settle_s computed as a difference of sums may come
# out a few ulps short. A nanosecond of slack makes the boundary behave as written.
_TIME_SLACK_S = 1e-9


class Debouncer:
    def __init__(self, settle_s: float, initial: bool = False) -> None:
        if not settle_s >= 0:
            raise ValueError(f"debounce settle time: got {settle_s!r} s, expected >= 0")
        self.settle_s = settle_s
        self.level = initial  # the settled level
        self._raw = initial
        self._raw_since = float("-inf")
        self.bounces = 0  # raw edges that did not (yet) produce a settled change

    @property
    def raw(self) -> bool:
        return self._raw

    def update(self, level: bool, now: float) -> bool | None:
        """Feed one raw sample. Returns the new settled level if it changed, else None."""
        level = bool(level)
        if level != self._raw:
            if self._raw != self.level:
                # the previous candidate level never settled: that was a bounce
                self.bounces += 1
            self._raw = level
            self._raw_since = now
        return self.poll(now)

    def poll(self, now: float) -> bool | None:
        """Re-evaluate without a new sample (the raw level is unchanged since the last one)."""
        if self._raw != self.level and now - self._raw_since >= self.settle_s - _TIME_SLACK_S:
            self.level = self._raw
            return self.level
        return None

    def hold(self, now: float) -> None:
        """Treat the input as unreadable now: cancel any pending change, keep the settled level.

        A later `update` must then hold its level for a full `settle_s` again."""
        self._raw = self.level
        self._raw_since = now

    def get_timer(self) -> float | None:
        """When a pending raw level will have settled (call `poll` then), or None."""
        if self._raw != self.level:
            return self._raw_since + self.settle_s
        return None
