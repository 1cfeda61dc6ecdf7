"""The upstream side of the forward stage: send one request, return one response.

Policy above, transport below: this package knows nothing of tokens, scopes or
audit. It owns the pooled HTTP client (aiohttp, the only importer of it), target
choice and failover, circuit breakers, health checks and upstream TLS, and turns
every client-library exception into an :class:`~phigate.errors.UpstreamError`.
"""

from __future__ import annotations

from phigate.proxy.breaker import BreakerState, CircuitBreaker
from phigate.proxy.headers import HOP_BY_HOP, strip_hop_by_hop
from phigate.proxy.health import HealthState, PoolHealth, TargetStatus
from phigate.proxy.pool import UpstreamPool
from phigate.proxy.request import IDEMPOTENT_METHODS, UpstreamRequest
from phigate.proxy.response import UpstreamResponse

__all__ = [
    "HOP_BY_HOP",
    "IDEMPOTENT_METHODS",
    "BreakerState",
    "CircuitBreaker",
    "HealthState",
    "PoolHealth",
    "TargetStatus",
    "UpstreamPool",
    "UpstreamRequest",
    "UpstreamResponse",
    "strip_hop_by_hop",
]
