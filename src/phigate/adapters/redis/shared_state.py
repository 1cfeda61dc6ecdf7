"""The Redis-backed bundle of shared state one node uses (``redis://`` / ``rediss://``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

from phigate.adapters.redis.connection import connect
from phigate.adapters.redis.keys import RedisKeys
from phigate.adapters.redis.replay_cache import RedisReplayCache
from phigate.adapters.redis.revocation_list import RedisRevocationList


def open_redis_shared_state(
    url: str,
    *,
    namespace: str = "phigate",
    timeout: float = 1.0,
    clock: Callable[[], float] = time.time,
    heartbeat: float = 2.0,
    max_reconnect_delay: float = 2.0,
) -> RedisSharedState:
    """Shared state on the Redis at ``url``, not yet started (nothing is connected until :meth:`start`).

    ``timeout`` bounds every call that waits on Redis (seconds). A node notices a
    silent outage within ``heartbeat + timeout`` seconds and retries at most
    every ``max_reconnect_delay`` seconds once it has.
    """
    client = connect(url, timeout=timeout)
    return RedisSharedState(
        client,
        RedisKeys(namespace),
        timeout=timeout,
        clock=clock,
        heartbeat=heartbeat,
        max_reconnect_delay=max_reconnect_delay,
    )


class RedisSharedState:
    """:class:`phigate.ports.SharedState` on Redis; owns (and closes) its client."""

    label = "Redis"

    def __init__(
        self,
        client: Redis,
        keys: RedisKeys,
        *,
        timeout: float,
        clock: Callable[[], float],
        heartbeat: float,
        max_reconnect_delay: float,
    ) -> None:
        self._client = client
        self.keys = keys
        self.replay_cache = RedisReplayCache(client, keys, timeout=timeout, clock=clock)
        self.revocations = RedisRevocationList(
            client,
            keys,
            timeout=timeout,
            clock=clock,
            heartbeat=heartbeat,
            max_reconnect_delay=max_reconnect_delay,
        )

    @property
    def connected(self) -> bool:
        return self.revocations.connected

    async def start(self) -> None:
        """Connect and load the revocations; SharedStateUnavailable (and nothing left open) on failure."""
        try:
            await self.revocations.start()
        except BaseException:
            await self._client.aclose()
            raise

    async def close(self) -> None:
        await self.revocations.close()
        await self._client.aclose()
