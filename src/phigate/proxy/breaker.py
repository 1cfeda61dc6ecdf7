"""A circuit breaker for one upstream target.

::

    closed --(failure_threshold consecutive failures)--> open
    open --(reset_seconds elapsed)--> half-open: exactly one trial request is let through
    half-open --(trial succeeds)--> closed
    half-open --(trial fails)--> open (the reset period starts again)

Time comes from an injected monotonic clock so the state machine needs no sleeps
to test. Not thread-safe; one event loop owns it. Every :meth:`allow` that returns
True must be followed by exactly one of :meth:`record_success`,
:meth:`record_failure` or :meth:`abandon`, or a half-open trial slot stays taken.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

Clock = Callable[[], float]


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half-open"


class CircuitBreaker:
    def __init__(self, failure_threshold: int, reset_seconds: float, clock: Clock) -> None:
        if failure_threshold < 1 or reset_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_seconds > 0")
        self._threshold = failure_threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock() - self._opened_at >= self._reset_seconds:
            return BreakerState.half_open
        return BreakerState.open

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def available(self) -> bool:
        """Would :meth:`allow` let a request through now? (Takes no slot.)"""
        state = self.state
        return state is BreakerState.closed or (state is BreakerState.half_open and not self._trial_in_flight)

    def allow(self) -> bool:
        """Take permission to send one request; in half-open only one at a time gets it."""
        if not self.available():
            return False
        if self.state is BreakerState.half_open:
            self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> bool:
        """Count a failure; True when this failure opened (or re-opened) the circuit."""
        self._failures += 1
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if was_trial or (self._opened_at is None and self._failures >= self._threshold):
            self._opened_at = self._clock()
            return True
        return False

    def abandon(self) -> None:
        """The permitted request ended with no verdict (cancelled): free the trial slot."""
        self._trial_in_flight = False
