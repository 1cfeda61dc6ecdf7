"""Throttling of sign-in attempts per account and per address (NIST SP 800-63B 5.2.2).

Every refused attempt counts, including one refused for being too soon: an
attacker cannot outpace the back-off by sending faster. After
``backoff_after`` consecutive failures each attempt must wait, doubling from
``base_delay`` up to ``max_delay``; at ``lock_after`` (at most 100, as 800-63B
demands) the account is locked until an administrator unlocks it. Addresses
back off but never lock (a shared NAT must not lock out a hospital). A success
clears the account's and the address's count.

Counts live in :class:`AttemptCounters`, shared by every gateway node, keyed
by the normalised username, never by whether the user exists: an unknown
username throttles and "locks" exactly like a real one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class Failures:
    count: int = 0
    last_at: float = 0.0  # epoch seconds of the latest failure


class AttemptCounters(Protocol):
    """Failure counts shared by every node (in-process or Redis).

    ``record`` adds one failure at ``now`` atomically and returns the new state;
    the key is forgotten ``ttl`` seconds after its last failure. ``read`` of an
    unknown key is ``Failures()``. Raises :class:`phigate.errors.SharedStateUnavailable`
    when the shared service cannot answer; callers refuse the attempt then.
    """

    async def record(self, key: str, now: float, ttl: float) -> Failures: ...

    async def read(self, key: str) -> Failures: ...

    async def clear(self, key: str) -> None: ...


class Verdict(StrEnum):
    allowed = "allowed"
    wait = "wait"  # back-off: try again later
    locked = "locked"  # too many failures: an administrator must unlock


@dataclass(frozen=True)
class AttemptPolicy:
    backoff_after: int = 5
    lock_after: int = 100
    base_delay: float = 1.0
    max_delay: float = 3600.0
    address_backoff_after: int = 20
    memory_seconds: float = 86400.0  # how long a count is kept after its last failure

    def __post_init__(self) -> None:
        if not 1 <= self.backoff_after < self.lock_after <= 100:
            raise ValueError("need 1 <= backoff_after < lock_after <= 100 (NIST SP 800-63B)")

    def verdict(self, failures: Failures, now: float, *, can_lock: bool = True) -> Verdict:
        threshold = self.backoff_after if can_lock else self.address_backoff_after
        if can_lock and failures.count >= self.lock_after:
            return Verdict.locked
        if failures.count < threshold:
            return Verdict.allowed
        if now < failures.last_at + self.delay(failures.count - threshold):
            return Verdict.wait
        return Verdict.allowed

    def delay(self, excess: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** min(excess, 32)))


def account_key(username: str) -> str:
    # Hashed: the shared store never holds usernames (which may be e-mail addresses).
    return "signin:account:" + hashlib.sha256(username.encode()).hexdigest()[:32]


def address_key(address: str) -> str:
    return "signin:address:" + address[:64]
