"""One gateway node assembled from its settings: upstream pools, pipelines, the two applications."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.applications import Starlette

from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.sql import SqlDataKeyStore, open_database
from phigate.asgi.admin import create_admin_app
from phigate.asgi.gateway import GatewayApp
from phigate.asgi.server import Listener, OnReady, serve
from phigate.monitor.logs import configure_logging
from phigate.monitor.metrics import GatewayMetrics
from phigate.pipeline import build_pipeline
from phigate.proxy import UpstreamPool
from phigate.settings import ResolvedSettings, Settings

log = structlog.get_logger("phigate.node")


@dataclass
class Node:
    settings: Settings
    node_id: str = field(default_factory=socket.gethostname)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)

    def __post_init__(self) -> None:
        self.node_id = self.settings.node_id or self.node_id
        self.upstreams = {name: UpstreamPool(name, up) for name, up in self.settings.upstreams.items()}
        pipelines = {
            route.base: build_pipeline(
                self.settings, route.base, self.upstreams[route.upstream], self.metrics, self.node_id
            )
            for route in self.settings.routes
        }
        self.public_app = GatewayApp(pipelines, self.readiness, lifespan=self.lifespan)
        self.admin_app: Starlette = create_admin_app(self.metrics, self.readiness)

    async def lifespan(self, phase: str) -> None:
        if phase == "startup":
            for pool in self.upstreams.values():
                await pool.start()
        else:
            for pool in self.upstreams.values():
                await pool.close()

    def readiness(self) -> dict[str, Any]:
        health = {name: pool.health() for name, pool in self.upstreams.items()}
        return {
            "ready": all(h.ready for h in health.values()),
            "node": self.node_id,
            "upstreams": {name: h.as_dict() for name, h in health.items()},
        }


async def run_node(
    resolved: ResolvedSettings,
    extra_listeners: Sequence[Listener] = (),
    on_ready: OnReady | None = None,
) -> None:
    """Start one node: logging, the store (migrated), the keyring (proves the master key), the listeners.

    Returns after SIGINT/SIGTERM once requests in flight have drained. A wrong
    or missing master key, or an unreachable store, stops it before any
    listener opens.
    """
    settings = resolved.settings
    configure_logging(settings.logging.level, settings.logging.format)
    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        await db.migrate()
        await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
        node = Node(settings)
        listeners = [
            Listener(node.public_app, settings.listeners.public, "public"),
            Listener(node.admin_app, settings.listeners.admin, "admin"),
            *extra_listeners,
        ]
        log.info("node_starting", node=node.node_id, store=db.label)
        await serve(listeners, drain_seconds=settings.listeners.drain_seconds, on_ready=on_ready)
        log.info("node_stopped", node=node.node_id)
    finally:
        await db.close()
