"""The generic cell rate algorithm (GCRA): a token bucket kept as one number per key.

A bucket lets ``capacity`` requests through at once and then one every
``interval``. Its whole state is the *theoretical arrival time* (TAT): when the
bucket would be full again. A request of cost ``c`` arriving at ``now`` passes
when ``max(TAT, now) + c * interval <= now + capacity * interval``; passing
moves TAT to that left-hand side, a refusal leaves it alone. Hence, in any
window of length W, at most ``capacity + W / interval`` requests pass (for a
rate of N per period and W = period: at most N + capacity).

Times are integer microseconds so that this module, the in-process store and
the Redis script compute exactly the same answers (a Lua number holds an
integer of this size exactly). Pure: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from phigate.settings.traffic import Rate

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Bucket:
    """``capacity`` at once, then one per ``interval`` microseconds."""

    interval: int
    capacity: int

    @classmethod
    def of(cls, rate: Rate, burst: int | None = None) -> Bucket:
        # Rounded up: a rounding error may make the limit a hair stricter, never looser.
        interval = -(-int(rate.period * MICROS) // rate.count)
        return cls(interval=max(1, interval), capacity=burst if burst is not None else rate.count)

    def tightened(self, other: Bucket) -> Bucket:
        """The stricter of two buckets on each axis (slower rate, smaller burst)."""
        return Bucket(max(self.interval, other.interval), min(self.capacity, other.capacity))

    @property
    def unlimited(self) -> bool:
        """A placeholder bucket (a client without a rate): nothing is counted or stored for it."""
        return self.capacity >= UNLIMITED_CAPACITY


UNLIMITED_CAPACITY = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer for one request: whether it passed, the new TAT, and what headers report."""

    allowed: bool
    tat: int  # the bucket's state after this request (unchanged when refused)
    remaining: int  # requests of cost 1 that would still pass now
    retry_after: int  # microseconds until this request would pass (0 when it passed)
    reset: int  # microseconds until the bucket is full again


def admit(tat: int | None, now: int, cost: int, bucket: Bucket, *, peek: bool = False) -> Admission:
    """Admit one request of ``cost`` at ``now``; with ``peek``, answer without spending anything."""
    cost = max(0, min(cost, bucket.capacity))  # a request dearer than the bucket still passes when it is full
    base = now if tat is None or tat < now else tat
    horizon = now + bucket.capacity * bucket.interval
    after = base + cost * bucket.interval
    if after > horizon:
        return Admission(
            False, base, max(0, (horizon - base) // bucket.interval), after - horizon, base - now
        )
    kept = base if peek else after
    return Admission(True, kept, (horizon - after) // bucket.interval, 0, kept - now)


UNLIMITED = Bucket(interval=1, capacity=UNLIMITED_CAPACITY)


def unlimited_admission(now: int) -> Admission:
    return Admission(True, now, UNLIMITED_CAPACITY, 0, 0)


def both(first: Admission, second: Admission) -> Admission:
    """One answer for a request judged by two buckets at once: it passes only if both let it."""
    if first.allowed and second.allowed:
        return first if first.remaining <= second.remaining else second
    refused = [a for a in (first, second) if not a.allowed]
    return max(refused, key=lambda a: a.retry_after)
