"""The control point: monitoring (or an operator) blocks or tightens one client for a while.

The change is written to the limit store, so with a shared store every node
applies it from its next request on; it lifts itself when its time is up.
Times are read from the store's clock, the one every node's limits use.
"""

from __future__ import annotations

from phigate.guard.limits.gcra import MICROS, Bucket
from phigate.guard.limits.store import LimitStore
from phigate.guard.limits.subjects import Control
from phigate.settings.traffic import Rate, parse_rate


class TrafficControl:
    def __init__(self, store: LimitStore) -> None:
        self.store = store

    async def block(self, client_id: str, seconds: float) -> None:
        """Refuse every request of the client (429, Retry-After) for ``seconds``."""
        now = await self.store.now()
        await self.store.control(_subject(client_id), Control(blocked_until=now + _micros(seconds)))

    async def tighten(
        self, client_id: str, rate: Rate | str, seconds: float, burst: int | None = None
    ) -> None:
        """Hold the client to ``rate`` (if stricter than its own) for ``seconds``."""
        parsed = parse_rate(rate)
        now = await self.store.now()
        control = Control(tightened=Bucket.of(parsed, burst), tightened_until=now + _micros(seconds))
        await self.store.control(_subject(client_id), control)

    async def lift(self, client_id: str) -> None:
        """End a block or tightening now."""
        await self.store.control(_subject(client_id), None)


def _subject(client_id: str) -> str:
    return f"client:{client_id}"


def _micros(seconds: float) -> int:
    if not 0 < seconds <= 366 * 86400:
        raise ValueError("seconds must be positive and at most a year")
    return int(seconds * MICROS)
