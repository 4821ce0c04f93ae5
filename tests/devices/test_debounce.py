from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskphone.devices.debounce import Debouncer


def test_clean_change_settles_after_the_settle_time():
    d = Debouncer(0.020, initial=False)
    assert d.update(True, 1.000) is None
    assert d.get_timer() == pytest.approx(1.020)
    assert d.poll(1.019) is None
    assert d.poll(1.020) is True
    assert d.level is True and d.get_timer() is None


def test_bounce_train_restarts_the_wait_and_reports_once():
    d = Debouncer(0.020, initial=False)
    # a closing contact: 6 edges within 4 ms, then steady closed
    train = [(True, 0.000), (False, 0.001), (True, 0.0015), (False, 0.0025), (True, 0.003),
             (False, 0.0035), (True, 0.004)]
    reports = [d.update(level, t) for level, t in train]
    assert reports == [None] * len(train)
    assert d.poll(0.0235) is None  # 19.5 ms after the last edge
    assert d.poll(0.024) is True
    assert d.bounces == 3


def test_glitch_shorter_than_settle_time_is_never_reported():
    d = Debouncer(0.040, initial=True)
    assert d.update(False, 5.0) is None
    assert d.update(True, 5.030) is None  # back before 40 ms
    assert d.poll(10.0) is None
    assert d.level is True


def test_periodic_sampling_settles_like_edges():
    d = Debouncer(0.020, initial=False)
    changes = [d.update(True, i * 0.005) for i in range(10)]
    assert changes.index(True) == 4  # t = 20 ms
    assert changes.count(True) == 1


def test_zero_settle_time_follows_the_input():
    d = Debouncer(0.0)
    assert d.update(True, 0.0) is True
    assert d.update(False, 0.0) is False


def test_negative_settle_time_is_refused():
    with pytest.raises(ValueError, match="settle"):
        Debouncer(-0.01)


@given(st.lists(st.tuples(st.booleans(), st.floats(0.0001, 0.1)), max_size=60))
def test_settled_level_only_changes_after_holding_for_settle_time(samples):
    settle = 0.020
    d = Debouncer(settle, initial=False)
    now = 0.0
    history: list[tuple[bool, float]] = []
    for level, gap in samples:
        now += gap
        history.append((level, now))
        changed = d.update(level, now)
        if changed is not None:
            # the raw level must have been `changed` for the last `settle` seconds
            since = now
            for past_level, t in reversed(history):
                if past_level != changed:
                    break
                since = t
            assert now - since >= settle - 1e-9
            assert changed == level
