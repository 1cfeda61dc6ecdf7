"""Target health: the state a periodic check leaves, and the snapshot /readyz reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from phigate.proxy.breaker import BreakerState

_log = structlog.get_logger("phigate.proxy")


class HealthState(StrEnum):
    unknown = "unknown"  # not checked yet; treated as up so a fresh node can serve at once
    up = "up"
    down = "down"


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target, at one moment. ``url`` is the configured base URL (an internal
    address: fine for the admin side, not for a public response)."""

    url: str
    health: HealthState
    circuit: BreakerState
    consecutive_failures: int
    checked_at: float | None  # the pool's monotonic clock; None before the first check


@dataclass(frozen=True, slots=True)
class PoolHealth:
    upstream: str
    targets: tuple[TargetStatus, ...]

    @property
    def ready(self) -> bool:
        """True when at least one target passes its health check and its circuit lets requests in."""
        return any(
            t.health is not HealthState.down and t.circuit is not BreakerState.open for t in self.targets
        )

    def as_dict(self, include_urls: bool = False) -> dict[str, Any]:
        """A JSON-ready view; target URLs only when asked (they are internal addresses)."""
        targets = [
            {
                **({"url": t.url} if include_urls else {}),
                "health": t.health.value,
                "circuit": t.circuit.value,
                "consecutive_failures": t.consecutive_failures,
            }
            for t in self.targets
        ]
        return {"upstream": self.upstream, "ready": self.ready, "targets": targets}


class HealthLoop:
    """Runs ``check_round`` now and then every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, check_round: Callable[[], Awaitable[None]], interval: float) -> None:
        self._check_round = check_round
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="phigate.proxy.health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._check_round()
            except Exception as exc:
                # A broken round must not end the checks for the life of the node.
                _log.error("upstream.health_round_failed", reason=type(exc).__name__)
            await asyncio.sleep(self._interval)
