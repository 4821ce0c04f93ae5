"""The 20 ms media clock: a timerfd (or call_at) ticker on the event loop, scheduled times on an
exact grid, catching up after a short stall and skipping after a long one."""

from __future__ import annotations

import asyncio
import time

import pytest

from deskphone.media.ticker import PeriodicTicker
from tests.media.test_stream import run_async


async def _collect(ticker_kwargs: dict, count: int, period: float = 0.005) -> tuple:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    scheduled: list[float] = []
    woken: list[float] = []

    def on_tick(at: float) -> None:
        scheduled.append(at)
        woken.append(time.monotonic())
        if len(scheduled) == count:
            ticker.stop()
            done.set_result(None)

    ticker = PeriodicTicker(loop, period, on_tick, **ticker_kwargs)
    first = time.monotonic() + period
    ticker.start(first)
    await asyncio.wait_for(done, 10.0)
    return ticker, first, scheduled, woken


@pytest.mark.parametrize("use_timerfd", [True, False])
@run_async
async def test_ticks_on_an_exact_grid_never_before_their_time(use_timerfd):
    ticker, first, scheduled, woken = await _collect({"use_timerfd": use_timerfd}, 12)
    assert ticker.kind == ("timerfd" if use_timerfd else "call_at")
    assert scheduled == pytest.approx([first + i * 0.005 for i in range(12)], abs=1e-9)
    # a tick never runs before its scheduled time (a missed one may run late, back to back);
    # uvloop/asyncio timers may fire up to one clock resolution early, timerfd never
    slack = 0.0 if use_timerfd else 0.001
    assert all(w >= s - slack for w, s in zip(woken, scheduled, strict=True))
    assert ticker.ticks == 12 and ticker.skipped == 0


def test_a_short_stall_is_caught_up_a_long_one_skipped():
    loop = asyncio.new_event_loop()
    try:
        seen: list[float] = []
        ticker = PeriodicTicker(loop, 0.020, seen.append, catch_up=0.2)
        ticker._next = 100.0
        ticker._run(3)  # woken 40 ms late: three ticks back to back, the timeline whole
        assert seen == pytest.approx([100.0, 100.02, 100.04])
        seen.clear()
        ticker._run(50)  # a second stopped: only the latest tick plays
        assert seen == pytest.approx([100.06 + 49 * 0.020])
        assert ticker.skipped == 49
        ticker._run(0)  # a spurious wake-up
        assert len(seen) == 1
    finally:
        loop.close()


def test_a_failing_tick_is_logged_and_the_next_one_still_runs(caplog):
    loop = asyncio.new_event_loop()
    try:
        calls: list[float] = []

        def on_tick(at: float) -> None:
            calls.append(at)
            if len(calls) == 1:
                raise RuntimeError("codec exploded")

        ticker = PeriodicTicker(loop, 0.020, on_tick)
        ticker._next = 5.0
        ticker._run(2)
        assert calls == pytest.approx([5.0, 5.02])
        assert "media tick failed" in caplog.text
    finally:
        loop.close()


def test_a_period_must_be_positive():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="period 0"):
            PeriodicTicker(loop, 0, lambda at: None)
    finally:
        loop.close()
