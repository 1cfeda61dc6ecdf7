"""Shared state on Redis: the replay cache and the revocation list every gateway node sees.

::

    state = open_redis_shared_state("redis://127.0.0.1:6379/0")
    await state.start()          # loads the revocations; SharedStateUnavailable if Redis is down
    await state.replay_cache.first_use("assertion:lab-1:4f2c", expires_at)
    state.revocations.is_revoked(jti)
    await state.close()

Key layout (see :class:`RedisKeys`) is safe on Redis Cluster: every command and
transaction touches a single key.
"""

from __future__ import annotations

from phigate.adapters.redis.connection import connect
from phigate.adapters.redis.keys import RedisKeys
from phigate.adapters.redis.replay_cache import RedisReplayCache
from phigate.adapters.redis.revocation_list import RedisRevocationList
from phigate.adapters.redis.shared_state import RedisSharedState, open_redis_shared_state

__all__ = [
    "RedisKeys",
    "RedisReplayCache",
    "RedisRevocationList",
    "RedisSharedState",
    "connect",
    "open_redis_shared_state",
]
