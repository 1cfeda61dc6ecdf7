"""Stage: record the exchange once its reply has been sent: one structured log event and metrics.

The event holds facts by key and never the query, body, headers or resource
ids: those may carry patient data or credentials. (The durable audit trail is
its own stage, added with the evidence plane.)
"""

from __future__ import annotations

import time

import structlog

from phigate.errors import Forbidden
from phigate.exchange import Exchange
from phigate.monitor.metrics import GatewayMetrics

log = structlog.get_logger("phigate.exchange")


class Record:
    def __init__(self, metrics: GatewayMetrics, node_id: str) -> None:
        self.metrics = metrics
        self.node_id = node_id

    def __call__(self, ex: Exchange) -> None:
        elapsed = time.monotonic() - ex.started
        status = ex.reply.status if ex.reply is not None else 0
        interaction = str(ex.facts.get("interaction", "none"))
        route = ex.route_base or "none"
        self.metrics.exchanges.labels(route, interaction, str(status)).inc()
        self.metrics.duration.labels(route, interaction).observe(elapsed)
        if ex.error is not None:
            self.metrics.denials.labels(ex.error.code).inc()
        log.info(
            "exchange",
            request_id=ex.request_id,
            node=self.node_id,
            method=ex.method,
            route=route,
            interaction=interaction,
            resource_type=ex.facts.get("resource_type"),
            status=status,
            outcome=ex.error.code if ex.error is not None else "ok",
            # A policy denial names only known resource types and scopes; other messages may echo
            # what the caller wrote (an unknown "resource type" can be a surname): never logged.
            reason=ex.error.message if isinstance(ex.error, Forbidden) else None,
            client_id=ex.facts.get("client_id"),
            vendor_id=ex.facts.get("vendor_id"),
            client_ip=ex.client_ip,
            upstream=ex.upstream_target,
            bytes_sent=ex.bytes_sent,
            duration_ms=round(elapsed * 1000, 3),
        )
