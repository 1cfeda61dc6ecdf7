"""In-process shared state: the embedded default, for one node.

``memory://`` keeps replay caches and revocations in this process, with the same
behaviour as the Redis adapters (:mod:`phigate.adapters.redis`) for a single
node: one contract suite runs against both. Time comes from an injectable clock
(epoch seconds) so expiry is testable without sleeping. Not thread-safe: one
event loop owns each object; no method awaits between its check and its write,
which is what makes ``first_use`` atomic.

"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable

from phigate.ports import ReplayCache, RevocationList

Clock = Callable[[], float]


class ExpiringKeys:
    """Keys that each live until an epoch time; lookups are O(1), expired keys are swept lazily.

    Re-adding a key never shortens its life: the later expiry wins. Expired keys
    are dropped by :meth:`sweep` (called on every write), in expiry order from a
    heap, so the cost of forgetting stays proportional to what is forgotten.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def live(self, key: str) -> bool:
        expires_at = self._expiry.get(key)
        return expires_at is not None and expires_at > self._clock()

    def claim(self, key: str, expires_at: float) -> bool:
        """Add ``key`` unless it is live already; True when this call added it."""
        now = self._clock()
        self.sweep(now)
        if expires_at <= now or self.live(key):
            return False
        self._set(key, expires_at)
        return True

    def add(self, key: str, expires_at: float) -> None:
        self.sweep()
        self._set(key, expires_at)

    def merge(self, entries: Iterable[tuple[str, float]]) -> None:
        for key, expires_at in entries:
            self._set(key, expires_at)
        self.sweep()

    def items(self) -> list[tuple[str, float]]:
        """The live keys and their expiry."""
        now = self._clock()
        return [(key, expires_at) for key, expires_at in self._expiry.items() if expires_at > now]

    def sweep(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            if self._expiry.get(key) == expires_at:  # else a later expiry replaced this entry
                del self._expiry[key]

    def _set(self, key: str, expires_at: float) -> None:
        if expires_at > self._expiry.get(key, float("-inf")):
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))


class MemoryReplayCache:
    """:class:`phigate.ports.ReplayCache` for one node: never unavailable."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._seen = ExpiringKeys(clock)

    async def first_use(self, key: str, expires_at: float) -> bool:
        return self._seen.claim(key, expires_at)


class MemoryRevocationList:
    """:class:`phigate.ports.RevocationList` for one node: every revocation is stored at once."""

    connected = True

    def __init__(self, clock: Clock = time.time) -> None:
        self._revoked = ExpiringKeys(clock)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def is_revoked(self, token_id: str) -> bool:
        return self._revoked.live(token_id)

    async def revoke(self, token_id: str, expires_at: float) -> None:
        self._revoked.add(token_id, expires_at)


class MemorySharedState:
    """:class:`phigate.ports.SharedState` held in this process (``memory://``)."""

    label = "memory"
    connected = True

    def __init__(self, clock: Clock = time.time) -> None:
        self.replay_cache: ReplayCache = MemoryReplayCache(clock)
        self.revocations: RevocationList = MemoryRevocationList(clock)

    async def start(self) -> None:
        await self.revocations.start()

    async def close(self) -> None:
        await self.revocations.close()
