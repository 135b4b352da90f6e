"""The per-model circuit breaker, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from warden.triage._breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _breaker(clock: Clock, *, failures: int = 3, reset_s: float = 60.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=failures, reset_s=reset_s, now=clock)


def test_stays_closed_below_the_threshold() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_opens_after_consecutive_failures_and_refuses_calls() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.t += 59.9
    assert not breaker.allow()


def test_a_success_resets_the_count() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_half_open_after_reset_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.t += 60
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow(), "a second caller must wait for the trial's outcome"


def test_successful_trial_closes() -> None:
    clock = Clock()
    breaker = _breaker(clock, failures=1)
    breaker.record_failure()
    clock.t += 60
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow()
    assert breaker.allow()


def test_failed_trial_reopens_for_a_full_wait() -> None:
    clock = Clock()
    breaker = _breaker(clock, failures=1)
    breaker.record_failure()
    clock.t += 60
    assert breaker.allow()
    clock.t += 5
    breaker.record_failure()
    assert breaker.state == "open"
    clock.t += 59
    assert not breaker.allow()
    clock.t += 1
    assert breaker.allow()


def test_a_trial_that_never_reports_is_given_up_after_reset() -> None:
    clock = Clock()
    breaker = _breaker(clock, failures=1, reset_s=10)
    breaker.record_failure()
    clock.t += 10
    assert breaker.allow()
    clock.t += 9
    assert not breaker.allow()
    clock.t += 1
    assert breaker.allow()


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (1, 0.0)])
def test_refuses_nonsense_settings(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=failures, reset_s=reset_s, now=Clock())
