"""Where phigate's shared state lives in Redis.

::

    <namespace>:replay:<key>   string "1", expiring at the credential's exp (SET NX PXAT)
    <namespace>:revoked        sorted set: token id -> expiry (epoch seconds), the durable record
    <namespace>:revoked        pub/sub channel: "<expires_at> <token id>" per new revocation

Replay keys carry no hash tag so they spread over a cluster's slots; nothing
ever touches two keys in one command, script or transaction, so no tag is
needed for correctness on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    namespace: str = "phigate"

    def __post_init__(self) -> None:
        if not self.namespace or any(c in self.namespace for c in "{}* \n"):
            raise ValueError("namespace must be non-empty, without braces, '*' or whitespace")

    def replay(self, key: str) -> str:
        return f"{self.namespace}:replay:{key}"

    @property
    def revocations(self) -> str:
        return f"{self.namespace}:revoked"

    @property
    def revocation_channel(self) -> str:
        return f"{self.namespace}:revoked"

    @property
    def pattern(self) -> str:
        """Every key of this namespace (for tools and tests that clean up)."""
        return f"{self.namespace}:*"
