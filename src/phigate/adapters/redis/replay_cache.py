"""The replay cache on Redis: one ``SET key 1 NX PXAT exp`` per claim, atomic across nodes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from redis.asyncio import Redis

from phigate.adapters.redis.connection import answered_within
from phigate.adapters.redis.keys import RedisKeys


class RedisReplayCache:
    """:class:`phigate.ports.ReplayCache` shared by every node using the same Redis and namespace.

    Redis expires each key at ``expires_at`` by its own clock; ``clock`` (this
    node's, epoch seconds) only refuses keys that are already expired. Every
    call answers or raises SharedStateUnavailable within ``timeout`` seconds.
    """

    def __init__(
        self, client: Redis, keys: RedisKeys, *, timeout: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._keys = keys
        self._timeout = timeout
        self._clock = clock

    async def first_use(self, key: str, expires_at: float) -> bool:
        if expires_at <= self._clock():
            return False
        async with answered_within(self._timeout):
            stored = await self._client.set(
                self._keys.replay(key), "1", nx=True, pxat=math.ceil(expires_at * 1000)
            )
        return bool(stored)
