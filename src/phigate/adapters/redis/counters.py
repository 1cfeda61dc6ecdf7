"""Sign-in failure counters on Redis, shared by every node (:class:`phigate.people.attempts.AttemptCounters`).

One hash per key, ``<namespace>:attempts:<key>`` with fields ``count`` and
``last`` (epoch seconds), updated by one ``MULTI`` (HINCRBY, HSET, EXPIRE), so
concurrent failures on several nodes are all counted.
"""

from __future__ import annotations

from redis.asyncio import Redis

from phigate.adapters.redis.connection import answered_within
from phigate.people.attempts import Failures
from phigate.ports import SharedState


class RedisAttemptCounters:
    def __init__(self, client: Redis, namespace: str, *, timeout: float) -> None:
        self._client = client
        self._prefix = f"{namespace}:attempts:"
        self._timeout = timeout

    @classmethod
    def beside(cls, shared: SharedState, *, timeout: float) -> RedisAttemptCounters:
        """Counters on the Redis client (and namespace) of a node's shared state."""
        client: Redis = getattr(shared, "_client")  # noqa: B009 - the shared state owns and closes it
        return cls(client, shared.keys.namespace, timeout=timeout)  # type: ignore[attr-defined]

    async def record(self, key: str, now: float, ttl: float) -> Failures:
        name = self._prefix + key
        async with answered_within(self._timeout), self._client.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "count", 1)
            pipe.hset(name, "last", repr(now))
            pipe.expire(name, max(1, int(ttl)))
            count, _, _ = await pipe.execute()
        return Failures(int(count), now)

    async def read(self, key: str) -> Failures:
        async with answered_within(self._timeout):
            values = await self._client.hgetall(self._prefix + key)
        if not values:
            return Failures()
        return Failures(int(values.get("count", 0)), float(values.get("last", 0.0)))

    async def clear(self, key: str) -> None:
        async with answered_within(self._timeout):
            await self._client.delete(self._prefix + key)
