"""The shared state of one node, chosen by ``shared_state.url``: in-process or Redis.

::

    state = open_shared_state(resolved.shared_state_url.get_secret_value())
    await state.start()
    ...
    await state.close()
"""

from __future__ import annotations

import time

from phigate.adapters.memory import Clock, MemorySharedState
from phigate.errors import ConfigError
from phigate.ports import SharedState


def open_shared_state(url: str, *, namespace: str = "phigate", clock: Clock = time.time) -> SharedState:
    """The shared state for ``url`` (``memory://``, ``redis://…`` or ``rediss://…``), not yet started.

    ``namespace`` prefixes every Redis key and channel, so several deployments
    (or test runs) can share one Redis. Raises ConfigError naming
    ``shared_state.url`` for any other scheme; the URL itself is never echoed,
    as it may carry a password.
    """
    scheme, separator, _ = url.partition("://")
    if separator and scheme == "memory":
        return MemorySharedState(clock=clock)
    if separator and scheme in ("redis", "rediss"):
        # Imported here so a memory:// deployment never loads the Redis driver.
        from phigate.adapters.redis import open_redis_shared_state

        return open_redis_shared_state(url, namespace=namespace, clock=clock)
    raise ConfigError(problems=["shared_state.url: must start with memory://, redis:// or rediss://"])
