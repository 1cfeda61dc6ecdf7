"""A Redis client with bounded waits, and the translation of its failures into ours.

Commands are never retried by the driver: a retried ``SET NX`` whose first reply
was lost would answer "already used" for a credential used once. A failure is
reported at once, as :class:`SharedStateUnavailable`, within the timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig

from phigate.errors import ConfigError, SharedStateUnavailable

FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


def connect(url: str, *, timeout: float) -> Redis:
    """A client for ``url`` whose every connect, read and write gives up after ``timeout`` seconds.

    Connects lazily; raises ConfigError (naming ``shared_state.url``, never its
    value) when the URL cannot be parsed.
    """
    try:
        client = Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            client_name="phigate",
            # Maintenance notifications relax read timeouts (to 10 s by default): no bounded wait then.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)  # unknown URL options fail here, not mid-request
    except (ValueError, TypeError):
        raise ConfigError(problems=["shared_state.url: is not a valid Redis URL"]) from None
    return client


@asynccontextmanager
async def answered_within(seconds: float) -> AsyncIterator[None]:
    """Run the block against Redis; any failure or a wait past ``seconds`` is SharedStateUnavailable."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except FAILURES:
        raise SharedStateUnavailable() from None
