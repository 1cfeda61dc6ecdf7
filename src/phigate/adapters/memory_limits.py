"""The in-process limit store: GCRA buckets, slots and controls in this process (one node).

Same answers as the Redis store (:mod:`phigate.adapters.redis.limits`) for a
single node; one contract suite runs against both. Not thread-safe: one event
loop owns it, and no method awaits between reading a bucket and writing it,
which is what makes each spend atomic. :func:`open_limit_store` picks the store
a node uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from phigate.guard.limits import MICROS, Bucket, BucketCheck, Control, LimitStore, Verdict, admit
from phigate.guard.limits.gcra import both
from phigate.ports import SharedState

_Key = tuple[str, str]  # (subject, bucket name)
_SWEEP_EVERY = 4096  # spends between sweeps of buckets that are full again (forgotten)


class MemoryLimitStore:
    label = "memory"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tats: dict[_Key, int] = {}
        self._controls: dict[str, Control] = {}
        self._slots: dict[str, dict[str, int]] = {}
        self._spends = 0

    async def now(self) -> int:
        return self._now()

    async def spend(self, checks: Sequence[BucketCheck]) -> list[Verdict]:
        now = self._now()
        verdicts = [self._spend(check, now) for check in checks]
        self._spends += 1
        if self._spends % _SWEEP_EVERY == 0:
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        return verdicts

    def _spend(self, check: BucketCheck, now: int) -> Verdict:
        control = self._controls.get(check.subject) if check.controlled else None
        if control is not None and control.blocked_until > now:
            return Verdict(check, False, 0, control.blocked_until - now, 0, blocked=True)
        judged = [
            (key, admit(self._tats.get(key), now, check.cost, bucket, peek=check.peek))
            for key, bucket in self._buckets(check, control, now)
        ]
        if not judged:
            return Verdict(check, True, check.bucket.capacity, 0, 0)
        admission = judged[0][1] if len(judged) == 1 else both(judged[0][1], judged[1][1])
        if admission.allowed and not check.peek:
            self._tats.update((key, each.tat) for key, each in judged)
        return Verdict(check, admission.allowed, admission.remaining, admission.retry_after, admission.reset)

    def _buckets(self, check: BucketCheck, control: Control | None, now: int) -> list[tuple[_Key, Bucket]]:
        buckets = [] if check.bucket.unlimited else [((check.subject, check.name), check.bucket)]
        tight = control.tightening(now) if control is not None else None
        if tight is not None:
            buckets.append(((check.subject, f"{check.name}~tight"), tight))
        return buckets

    async def take_slot(self, key: str, member: str, limit: int, lease: float) -> bool:
        now = self._now()
        held = {m: until for m, until in self._slots.get(key, {}).items() if until > now}
        self._slots[key] = held
        if len(held) >= limit:
            return False
        held[member] = now + int(lease * MICROS)
        return True

    async def release_slot(self, key: str, member: str) -> None:
        held = self._slots.get(key)
        if held is not None:
            held.pop(member, None)
            if not held:
                del self._slots[key]

    async def control(self, subject: str, control: Control | None) -> None:
        self._tats = {key: tat for key, tat in self._tats.items() if key[0] != subject or "~" not in key[1]}
        if control is None:
            self._controls.pop(subject, None)
        else:
            self._controls[subject] = control

    async def read_control(self, subject: str) -> tuple[Control | None, int]:
        return self._controls.get(subject), self._now()

    def _now(self) -> int:
        return int(self._clock() * MICROS)


def open_limit_store(shared: SharedState, *, timeout: float, local: bool = False) -> LimitStore:
    """The limit store beside ``shared``: on its Redis when it has one (unless ``local``), else in-process."""
    if not local and shared.label == "Redis":
        from phigate.adapters.redis.limits import RedisLimitStore  # only Redis deployments load the driver

        return RedisLimitStore.beside(shared, timeout=timeout)
    return MemoryLimitStore()
