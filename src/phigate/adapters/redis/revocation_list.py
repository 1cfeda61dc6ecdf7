"""The revocation list on Redis: a local set, kept in sync by pub/sub over a durable sorted set.

One background task per node follows the revocation channel. Each session:

1. subscribe, and wait until Redis confirms (so nothing published from then on is missed);
2. write back every live revocation this node knows (``ZADD GT``: heals a Redis
   that restarted empty) and publish the ones it could not store while cut off;
3. load the full current set and merge it into the local set;
4. apply each published revocation as it arrives, and ping so that a silent
   (half-open) connection is noticed within ``heartbeat + timeout`` seconds.

Any failure ends the session: the outage is logged once, the local set keeps
answering, and the task reconnects with a backoff capped at ``max_reconnect_delay``.
Revocations are never undone, so merging (never replacing) the local set is
always safe; entries are dropped only when their ``expires_at`` passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from phigate.adapters.memory import ExpiringKeys
from phigate.adapters.redis.connection import FAILURES, answered_within
from phigate.adapters.redis.keys import RedisKeys
from phigate.errors import SharedStateUnavailable

_log = structlog.get_logger("phigate.shared_state")

_LISTEN_POLL = 0.25  # seconds a read waits for a message before the heartbeat is checked
_SWEEP_EVERY = 10.0  # seconds between sweeps of expired local entries
_BATCH = 500  # revocations written back per round trip


class RedisRevocationList:
    """:class:`phigate.ports.RevocationList` for many nodes sharing one Redis and namespace."""

    def __init__(
        self,
        client: Redis,
        keys: RedisKeys,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
        heartbeat: float = 2.0,
        max_reconnect_delay: float = 2.0,
    ) -> None:
        self._client = client
        self._keys = keys
        self._timeout = timeout
        self._clock = clock
        self._heartbeat = heartbeat
        self._max_delay = max_reconnect_delay
        self._local = ExpiringKeys(clock)
        self._unsent: dict[str, float] = {}  # revoked here while cut off: stored and published on reconnect
        self._connected = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    def is_revoked(self, token_id: str) -> bool:
        return self._local.live(token_id)

    async def revoke(self, token_id: str, expires_at: float) -> None:
        """Store and announce the revocation; SharedStateUnavailable when Redis did not confirm it.

        This node refuses the token at once either way; an unconfirmed revocation
        is stored and published by this node as soon as it reconnects.
        """
        self._local.add(token_id, expires_at)
        now = self._clock()
        if expires_at <= now:
            return  # the token is refused as expired everywhere; nothing to share
        try:
            async with answered_within(self._timeout), self._client.pipeline(transaction=True) as pipe:
                pipe.zadd(self._keys.revocations, {token_id: expires_at}, gt=True)
                pipe.zremrangebyscore(self._keys.revocations, "-inf", now)
                pipe.publish(self._keys.revocation_channel, f"{expires_at!r} {token_id}")
                await pipe.execute()
        except SharedStateUnavailable:
            self._unsent[token_id] = max(expires_at, self._unsent.get(token_id, expires_at))
            raise

    async def start(self) -> None:
        """Load the full set and begin following revocations; SharedStateUnavailable if Redis is down."""
        if self._task is not None:
            return
        try:
            pubsub = await self._open_session()
        except FAILURES:
            raise SharedStateUnavailable() from None
        self._connected = True
        self._task = asyncio.create_task(self._follow(pubsub), name="phigate-revocations")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            # Python 3.11's asyncio.timeout, which the driver reads under, can swallow a cancel
            # that lands as a read times out; the closing flag then ends the loop at its next turn.
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # None: the loop only ends by closing or cancellation
        self._connected = False

    async def _follow(self, pubsub: PubSub | None) -> None:
        delay = 0.1
        while not self._closing:
            if pubsub is None:
                try:
                    pubsub = await self._open_session()
                except Exception as exc:  # any failure, ours included: retry rather than stop following
                    self._went_down(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_delay)
                    continue
                delay = 0.1
                self._came_up()
            try:
                await self._listen(pubsub)
            except Exception as exc:
                self._went_down(exc)
            finally:
                await _discard(pubsub)
                pubsub = None

    async def _open_session(self) -> PubSub:
        pubsub = self._client.pubsub()
        try:
            async with asyncio.timeout(self._timeout * 3):
                await pubsub.subscribe(self._keys.revocation_channel)
                while (await pubsub.get_message(timeout=self._timeout) or {}).get("type") != "subscribe":
                    pass
            await self._write_back()
            await self._load()
        except BaseException:
            await _discard(pubsub)
            raise
        return pubsub

    async def _write_back(self) -> None:
        entries = self._local.items()
        unsent = dict(self._unsent)
        now = self._clock()
        for start in range(0, len(entries), _BATCH):
            batch = dict(entries[start : start + _BATCH])
            async with asyncio.timeout(self._timeout):
                await self._client.zadd(self._keys.revocations, batch, gt=True)
        for token_id, expires_at in unsent.items():
            if expires_at > now:
                async with asyncio.timeout(self._timeout):
                    await self._client.publish(self._keys.revocation_channel, f"{expires_at!r} {token_id}")
            if self._unsent.get(token_id) == expires_at:
                del self._unsent[token_id]

    async def _load(self) -> None:
        now = self._clock()
        async with asyncio.timeout(self._timeout * 3):
            await self._client.zremrangebyscore(self._keys.revocations, "-inf", now)
            stored = await self._client.zrange(
                self._keys.revocations, f"({now!r}", "+inf", byscore=True, withscores=True
            )
        # withscores=True: a list of (member, score) pairs
        pairs = cast(list[tuple[str, float]], stored)
        self._local.merge((str(token_id), float(score)) for token_id, score in pairs)

    async def _listen(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_heard = next_ping = next_sweep = loop.time()
        while not self._closing:
            now = loop.time()
            if now >= next_ping:
                async with asyncio.timeout(self._timeout):
                    await pubsub.ping()
                next_ping = now + self._heartbeat
            if now - last_heard > self._heartbeat + self._timeout:
                raise TimeoutError  # no pong and no message: the connection is silently gone
            if now >= next_sweep:
                self._local.sweep()
                next_sweep = now + _SWEEP_EVERY
            message = await pubsub.get_message(timeout=_LISTEN_POLL)
            if message is not None:
                last_heard = loop.time()
                self._apply(message)

    def _apply(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if message.get("type") != "message" or not isinstance(data, str):
            return
        stamp, _, token_id = data.partition(" ")
        try:
            expires_at = float(stamp)
        except ValueError:
            return  # not ours: another writer on the channel; ignore rather than guess
        if token_id:
            self._local.add(token_id, expires_at)

    def _went_down(self, exc: BaseException) -> None:
        if self._connected:
            self._connected = False
            _log.warning(
                "shared_state.unavailable",
                backend="Redis",
                reason=type(exc).__name__,
                revocations_known=len(self._local),
            )

    def _came_up(self) -> None:
        self._connected = True
        _log.info("shared_state.recovered", backend="Redis", revocations_known=len(self._local))


async def _discard(pubsub: PubSub) -> None:
    with contextlib.suppress(*FAILURES):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
