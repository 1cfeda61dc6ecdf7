"""In-process sign-in failure counters (:class:`phigate.people.attempts.AttemptCounters`) for one node.

Same answers as :mod:`phigate.adapters.redis.counters` for a single node. No
method awaits between its read and its write, so each update is atomic on
one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from phigate.people.attempts import AttemptCounters, Failures
from phigate.ports import SharedState

_MAX_KEYS = 100_000


class MemoryAttemptCounters:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[Failures, float]] = {}  # key -> (failures, forget at)

    async def record(self, key: str, now: float, ttl: float) -> Failures:
        current = await self.read(key)
        updated = Failures(current.count + 1, now)
        if len(self._entries) >= _MAX_KEYS:
            self._sweep()
        self._entries[key] = (updated, now + ttl)
        return updated

    async def read(self, key: str) -> Failures:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self._clock():
            return Failures()
        return entry[0]

    async def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def _sweep(self) -> None:
        now = self._clock()
        self._entries = {key: entry for key, entry in self._entries.items() if entry[1] > now}


def open_attempt_counters(shared: SharedState, *, timeout: float = 1.0) -> AttemptCounters:
    """Counters beside ``shared``: on its Redis when it has one (every node sees them), else in-process."""
    if shared.label == "Redis":
        from phigate.adapters.redis.counters import RedisAttemptCounters  # only Redis deployments load it

        return RedisAttemptCounters.beside(shared, timeout=timeout)
    return MemoryAttemptCounters()
