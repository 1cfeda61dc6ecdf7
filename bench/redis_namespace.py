"""A Redis namespace of the benchmark's own: the shared-state rows keep their keys in it, and it goes after.

A gateway on ``shared_state.url: redis://...`` prefixes every key with ``shared_state.namespace``.
Each start of such a gateway gets a fresh, unique namespace (``phigate-bench-<hex>``), so it never
reads or counts another process's keys, and :meth:`RedisNamespace.remove` deletes every key under it
once the server has stopped.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass

import redis
from servers import Unavailable

PREFIX = "phigate-bench-"
TIMEOUT_S = 2.0


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    name: str

    @classmethod
    def fresh(cls, url: str) -> RedisNamespace:
        return cls(url, PREFIX + secrets.token_hex(6))

    @property
    def pattern(self) -> str:
        """Every key of the namespace (the gateway writes ``<namespace>:...``)."""
        return f"{self.name}:*"

    def require(self) -> None:
        """Raises Unavailable (the rows are skipped, not failed) when Redis does not answer a PING."""
        try:
            with self._client() as client:
                client.ping()
        except (redis.RedisError, OSError) as exc:
            raise Unavailable(f"no Redis at {self.url} ({type(exc).__name__}; see --redis)") from None

    def remove(self) -> int:
        """Delete every key of the namespace; how many there were. When Redis cannot be reached, says
        so on stderr (with the pattern to delete by hand) and returns 0."""
        try:
            with self._client() as client:
                keys = list(client.scan_iter(match=self.pattern, count=1000))
                return int(client.delete(*keys)) if keys else 0
        except (redis.RedisError, OSError) as exc:
            problem = f"could not remove the keys {self.pattern} from {self.url}: {type(exc).__name__}"
            print(problem, file=sys.stderr)
            return 0

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
