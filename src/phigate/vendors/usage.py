"""Evidence of use for access reviews: requests per client, resource type and interaction, and when last.

Each node counts in memory (:class:`UsageMeter`, no I/O on the request path)
and hands the counts to the store every few seconds, where they are added up
across nodes. What is counted: requests of a client that passed the posture
stage, by the resource type and interaction the gateway parsed. Requests the
authorise stage then refused are counted too (they still show which data the
client reaches for). The audit trail is now the better source; reading
last use from it is one of the points that keep issue #9 open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from phigate.errors import PhigateError
from phigate.types import ClientId

log = structlog.get_logger("phigate.vendors")

UsageKey = tuple[str, str, str]  # client id, resource type ("*" at the system level), interaction


@dataclass(frozen=True)
class Use:
    client_id: ClientId
    resource_type: str
    interaction: str
    count: int
    last_at: datetime


class UsageStore(Protocol):
    """Durable, shared usage counts. ``add`` sums counts and keeps the latest ``last_at`` per key."""

    async def add(self, uses: list[Use]) -> None: ...

    async def uses(self, client_id: ClientId | None = None) -> list[Use]: ...


class UsageMeter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._pending: dict[UsageKey, tuple[int, float]] = {}

    def count(self, client_id: str, resource_type: str | None, interaction: str) -> None:
        key = (client_id, resource_type or "*", interaction)
        count, _ = self._pending.get(key, (0, 0.0))
        self._pending[key] = (count + 1, self.clock())

    def drain(self) -> list[Use]:
        """The counts since the last drain (and forget them)."""
        pending, self._pending = self._pending, {}
        return [
            Use(ClientId(client), rtype, interaction, count, datetime.fromtimestamp(at, UTC))
            for (client, rtype, interaction), (count, at) in pending.items()
        ]

    def restore(self, uses: list[Use]) -> None:
        """Put back counts the store did not take, so an outage loses none."""
        for use in uses:
            key = (use.client_id, use.resource_type, use.interaction)
            count, at = self._pending.get(key, (0, 0.0))
            self._pending[key] = (count + use.count, max(at, use.last_at.timestamp()))


class UsageFlusher:
    """Hands a node's counts to the store every ``interval`` seconds, and once more at shutdown."""

    def __init__(self, meter: UsageMeter, store: UsageStore, interval: float = 10.0) -> None:
        self.meter = meter
        self.store = store
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def flush(self) -> None:
        uses = self.meter.drain()
        if not uses:
            return
        try:
            await self.store.add(uses)
        except PhigateError:  # the store is down: keep the counts for the next round
            self.meter.restore(uses)
            log.warning("usage_flush_failed", pending=len(uses))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="vendor-usage-flush")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()
