from __future__ import annotations

import pytest

from phigate.proxy.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, reset_seconds=10.0, clock=clock)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call so the checker does not pin one value per test


def fail(breaker: CircuitBreaker, times: int) -> list[bool]:
    opened = []
    for _ in range(times):
        assert breaker.allow()
        opened.append(breaker.record_failure())
    return opened


def test_opens_after_the_threshold_of_consecutive_failures(breaker: CircuitBreaker) -> None:
    assert fail(breaker, 3) == [False, False, True]
    assert state_of(breaker) is BreakerState.open
    assert not breaker.allow()


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert breaker.allow()
    breaker.record_success()
    fail(breaker, 2)
    assert state_of(breaker) is BreakerState.closed
    assert breaker.consecutive_failures == 2


def test_half_open_after_the_reset_time_lets_exactly_one_trial_through(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 3)
    clock.now += 9.9
    assert state_of(breaker) is BreakerState.open and not breaker.allow()
    clock.now += 0.1
    assert state_of(breaker) is BreakerState.half_open
    assert breaker.allow()
    assert not breaker.allow()  # a second caller waits for the trial's verdict
    assert not breaker.available()


def test_a_successful_trial_closes_the_circuit(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert state_of(breaker) is BreakerState.closed
    assert breaker.allow() and breaker.allow()


def test_a_failed_trial_opens_it_again_for_a_full_period(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.now += 10
    assert breaker.allow()
    assert breaker.record_failure()
    assert state_of(breaker) is BreakerState.open
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_an_abandoned_trial_frees_the_slot(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.now += 10
    assert breaker.allow()
    breaker.abandon()
    assert breaker.allow()


def test_late_failures_while_open_do_not_extend_the_period(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.now += 5
    assert not breaker.record_failure()  # a request let in before the circuit opened
    clock.now += 5
    assert state_of(breaker) is BreakerState.half_open


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (1, 0.0)])
def test_rejects_nonsense_settings(threshold: int, reset: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, reset, clock=lambda: 0.0)
