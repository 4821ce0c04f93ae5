"""Registrar failover policy, driven with a fake clock."""

from __future__ import annotations

from deskphone.routing.events import (
    AllRegistrarsDown,
    ProbeRegistrar,
    RegisterWith,
    Unregister,
)
from deskphone.routing.failover import FailoverConfig, RegistrarFailover

PRIMARY, SECONDARY = "udp:10.0.0.1:5060", "udp:10.0.0.2:5060"


def drain(failover: RegistrarFailover) -> list:
    events = []
    while (event := failover.next_event()) is not None:
        events.append(event)
    return events


def make(**config: float) -> RegistrarFailover:
    failover = RegistrarFailover("office", [PRIMARY, SECONDARY],
                                 FailoverConfig(random=lambda: 1.0, **config))
    failover.start(0.0)
    assert drain(failover) == [RegisterWith("office", PRIMARY, "start")]
    return failover


def test_registered_on_primary_needs_no_timer() -> None:
    failover = make()
    failover.registration_succeeded(PRIMARY, 0.1)
    assert failover.registered and failover.get_timer() is None and drain(failover) == []


def test_timeout_moves_to_secondary_then_probe_and_fallback() -> None:
    failover = make(probe_interval=60.0)
    failover.registration_succeeded(PRIMARY, 0.1)
    failover.registration_failed(PRIMARY, None, 3600.0)       # refresh timed out (Timer F)
    assert drain(failover) == [RegisterWith("office", SECONDARY, "failover")]
    failover.registration_succeeded(SECONDARY, 3600.2)
    assert failover.get_timer() == 3660.2
    failover.handle_timer(3660.2)
    assert drain(failover) == [ProbeRegistrar("office", PRIMARY)]
    failover.probe_result(PRIMARY, answered=False, now=3692.2)   # still down
    assert drain(failover) == [] and failover.get_timer() == 3752.2
    failover.handle_timer(3752.2)
    assert drain(failover) == [ProbeRegistrar("office", PRIMARY)]
    failover.probe_result(PRIMARY, answered=True, now=3752.3)
    assert drain(failover) == [RegisterWith("office", PRIMARY, "fallback")]
    failover.registration_succeeded(PRIMARY, 3752.4)
    assert drain(failover) == [Unregister("office", SECONDARY)]
    assert failover.current == PRIMARY and failover.get_timer() is None


def test_5xx_fails_over_but_4xx_does_not() -> None:
    failover = make()
    failover.registration_failed(PRIMARY, 403, 1.0)
    assert drain(failover) == [] and failover.current == PRIMARY
    failover.registration_failed(PRIMARY, 500, 2.0)
    assert drain(failover) == [RegisterWith("office", SECONDARY, "failover")]


def test_all_down_backs_off_exponentially_per_rfc_5626() -> None:
    failover = make(backoff_base=30.0, backoff_max=100.0)
    failover.registration_failed(PRIMARY, None, 0.0)
    failover.registration_failed(SECONDARY, None, 32.0)
    events = drain(failover)
    assert events == [RegisterWith("office", SECONDARY, "failover"),
                      AllRegistrarsDown("office", 62.0)]
    failover.handle_timer(62.0)
    assert drain(failover) == [RegisterWith("office", PRIMARY, "retry")]
    failover.registration_failed(PRIMARY, None, 94.0)
    assert drain(failover) == [RegisterWith("office", SECONDARY, "failover")]
    failover.registration_failed(SECONDARY, 503, 126.0)
    assert drain(failover) == [AllRegistrarsDown("office", 186.0)]      # 2 * 30
    failover.handle_timer(186.0)
    failover.registration_failed(PRIMARY, None, 218.0)
    failover.registration_failed(SECONDARY, None, 250.0)
    assert drain(failover)[-1] == AllRegistrarsDown("office", 350.0)    # capped at 100
    failover.handle_timer(350.0)
    failover.registration_succeeded(PRIMARY, 351.0)
    failover.registration_failed(PRIMARY, None, 400.0)
    failover.registration_failed(SECONDARY, None, 432.0)
    assert drain(failover)[-1] == AllRegistrarsDown("office", 462.0)    # reset after success


def test_backoff_is_jittered_between_half_and_full() -> None:
    failover = RegistrarFailover("a", [PRIMARY], FailoverConfig(random=lambda: 0.0))
    failover.start(0.0)
    failover.registration_failed(PRIMARY, None, 10.0)
    assert drain(failover)[-1] == AllRegistrarsDown("a", 25.0)


def test_503_retry_after_skips_that_registrar_until_then() -> None:
    failover = make(probe_interval=60.0)
    failover.registration_failed(PRIMARY, 503, 0.0, retry_after=600.0)
    drain(failover)
    failover.registration_succeeded(SECONDARY, 0.1)
    failover.handle_timer(60.1)
    assert drain(failover) == []                    # primary said not before 600
    assert failover.get_timer() == 600.0
    failover.handle_timer(600.0)
    assert drain(failover) == [ProbeRegistrar("office", PRIMARY)]


def test_late_answers_from_a_registrar_we_left_are_ignored() -> None:
    failover = make()
    failover.registration_failed(PRIMARY, None, 1.0)
    drain(failover)
    failover.registration_succeeded(PRIMARY, 1.5)      # stray 200 after the timeout
    failover.registration_failed(PRIMARY, None, 1.6)
    assert failover.current == SECONDARY and not failover.registered and drain(failover) == []
