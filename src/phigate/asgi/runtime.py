"""One gateway node assembled from its settings and services: pipelines, authorisation server, the apps."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import time
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.applications import Starlette

from phigate.adapters.memory_limits import open_limit_store
from phigate.adapters.sql import SqlSecretStore
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.admin.vendor_notices import node_schedule
from phigate.asgi.admin import create_admin_app
from phigate.asgi.admin_assembly import trail_sink, vendor_side
from phigate.asgi.admin_vendors import load_launch_token
from phigate.asgi.gateway import GatewayApp
from phigate.asgi.oauth_routes import create_oauth_app
from phigate.asgi.pages.assembly import people_side
from phigate.asgi.server import Listener, OnReady, serve
from phigate.asgi.services import Services
from phigate.monitor.logs import configure_logging
from phigate.monitor.metrics import GatewayMetrics
from phigate.oauth.endpoints import Endpoints
from phigate.oauth.external import ExternalIssuer
from phigate.oauth.oidc.discovery import provider_metadata
from phigate.oauth.resource import CachedClients, ResourceServer
from phigate.oauth.rfc7523 import AssertionAuthenticator, ClientKeys
from phigate.oauth.rfc9068 import AccessTokens
from phigate.oauth.server import AuthorizationServer
from phigate.oauth.smart.discovery import smart_configuration
from phigate.pipeline import build_pipeline
from phigate.pipeline.audit import Evidence
from phigate.pipeline.contracts import ContractEnforcement
from phigate.pipeline.posture import PostureStage
from phigate.pipeline.traffic import TokenEndpointGuard, Traffic
from phigate.proxy import UpstreamPool
from phigate.proxy.fetch import GuardedFetcher
from phigate.settings import ResolvedSettings, Settings
from phigate.tls import client_context
from phigate.vendors.gate import PostureGate

log = structlog.get_logger("phigate.node")
KEY_REFRESH_SECONDS = 20.0  # well under the signing keys' activation delay (60 s)
SCOPES_SUPPORTED = ["system/*.rs", "system/*.cruds", "system/Patient.rs", "system/Observation.rs"]


class Node:
    def __init__(self, settings: Settings, services: Services, node_id: str | None = None) -> None:
        self.settings = settings
        self.services = services
        self.node_id = node_id or settings.node_id or socket.gethostname()
        self.metrics = GatewayMetrics()
        self.endpoints = Endpoints.of(settings)
        self.upstreams = {name: UpstreamPool(name, up) for name, up in settings.upstreams.items()}
        self.fetcher = GuardedFetcher(
            allow_loopback=settings.oauth.allow_loopback_jwks,
            ssl_context=client_context(settings.oauth.fetch_ca_file),
        )
        # -- vendor posture (issue 9): one gate per node, read by every pipeline and the token endpoint --
        registry = SqlVendorRisk(services.db, services.keyring)
        self.posture_gate = PostureGate(registry, settings.vendors, clock=time.time, monotonic=time.monotonic)
        # -- end vendor posture --
        # -- traffic guard (issue 5): limits on the shared store; node.traffic.control is the control point --
        traffic = settings.traffic
        local = traffic.store == "local"
        store = open_limit_store(services.shared, timeout=traffic.store_timeout_seconds, local=local)
        self.traffic = Traffic(traffic, store)
        # -- end traffic guard --
        # -- evidence plane (issue 8): audit trail, metrics by client, detectors, alerts, reactions --
        self.evidence: Evidence | None = None
        if settings.audit.enabled:
            stores = (services.db, services.keyring, services.clients, services.shared.revocations)
            control = self.traffic.control  # "tighten rate" reactions act through the traffic guard
            self.evidence = Evidence(settings, self.node_id, self.metrics, *stores, control=control)
        # -- end evidence plane --
        # -- vendor administration (issue 9): audited posture changes, admin API, reminders --
        desk = self.evidence.desk.raise_alert if self.evidence is not None else None
        self.notices = node_schedule(services.db, services.keyring, settings.vendors, desk, time.time)
        self.vendor_admin, admin_token, incident_webhook = vendor_side(
            settings, services, self.posture_gate, self.evidence, self.traffic  # the webhook's limits
        )
        # -- end vendor administration --
        # -- data contracts (issue 7): compiled once; a problem stops the node, naming the key path --
        # encryption keys come from the registry, cached briefly: a rotation reaches every node. Built
        # with no contract too: the shape stage also de-identifies for vendors without a BAA (issue 9).
        self.contracts: ContractEnforcement | None = ContractEnforcement.from_settings(
            settings.contracts, CachedClients(services.clients)
        )
        # -- end data contracts --
        self.authorization_server = self._authorization_server()
        resource_server = self._resource_server()
        pipelines = {
            route.base: build_pipeline(
                settings,
                route.base,
                self.upstreams[route.upstream],
                self.metrics,
                self.node_id,
                resource_server,
                posture=PostureStage(self.posture_gate, settings.oauth.access_token_seconds),
                traffic=self.traffic,
                contracts=self.contracts,  # data contracts (issue 7)
                audit=self.evidence.trail if self.evidence is not None else None,  # evidence plane (issue 8)
            )
            for route in settings.routes
        }
        oauth_app = create_oauth_app(
            self.authorization_server,
            services.signing_keys.jwks,
            provider_metadata(self.endpoints, settings.oauth.signing_algorithm, SCOPES_SUPPORTED,
                              people=self.people is not None),
            smart_configuration(self.endpoints, SCOPES_SUPPORTED, people=self.people is not None),
            tuple(route.base for route in settings.routes),
            token_guard=TokenEndpointGuard(
                self.traffic, settings.listeners.trusted_proxies, settings.traffic.client_address_header
            ),  # traffic guard (issue 5)
            page_routes=self.people.pages.routes() if self.people is not None else (),  # people (issue 4)
        )
        self.public_app = GatewayApp(
            pipelines, self.readiness, lifespan=self.lifespan, oauth_app=oauth_app,
            webhook_app=incident_webhook,  # vendors' signed incident reports (issue 9)
        )  # fmt: skip
        self.admin_app: Starlette = create_admin_app(
            self.metrics, self.readiness, self.vendor_admin, admin_token,
            self.people.ehr_launches if self.people is not None else None,  # EHR launch (issue 4)
            load_launch_token(settings.admin_api),
        )  # vendor administration (issue 9)  # fmt: skip
        self._refresh: asyncio.Task[None] | None = None

    def _authorization_server(self) -> AuthorizationServer:
        services, oauth = self.services, self.settings.oauth
        authenticator = AssertionAuthenticator(
            services.clients, ClientKeys(self.fetcher), services.shared.replay_cache, oauth
        )
        # -- people (issue 4): sign-in, MFA and consent pages, and the launch grants of their apps --
        people_on = self.settings.people.enabled
        alerts = self.evidence.desk.raise_alert if self.evidence is not None else None  # break-glass alerts
        trail = self.evidence.trail.security if self.evidence is not None else None  # sign-ins audited
        launched = trail_sink(self.evidence.trail if self.evidence is not None else None)  # EHR launches
        self.people = people_side(self.settings, services, self.endpoints, self._tokens(), authenticator,
                                  alerts, trail, self.upstreams, launched) if people_on else None  # fmt: skip
        # -- end people --
        return AuthorizationServer(
            self.endpoints,
            authenticator,
            self._tokens(),
            services.shared.replay_cache,
            services.shared.revocations,
            vendor_refusal=self.posture_gate.refusal,
            on_token=self.evidence.on_token if self.evidence is not None else None,  # evidence (issue 8)
            launch=self.people.launch if self.people is not None else None,  # people (issue 4)
        )

    def _tokens(self) -> AccessTokens:
        return AccessTokens(self.services.signing_keys, self.settings.oauth, self.endpoints.issuer)

    def _resource_server(self) -> ResourceServer:
        shared = self.services.shared
        return ResourceServer(
            tokens=self._tokens(),
            audiences=frozenset(self.endpoints.fhir_bases),
            external=[
                ExternalIssuer(
                    issuer,
                    self.fetcher,
                    max_token_bytes=self.settings.oauth.max_token_bytes,
                    skew=self.settings.oauth.clock_skew_seconds,
                )
                for issuer in self.settings.external_issuers
            ],
            revocations=shared.revocations,
            replay=shared.replay_cache,
            clients=CachedClients(self.services.clients),
        )

    async def lifespan(self, phase: str) -> None:
        if phase == "startup":
            await self.services.shared.start()
            for pool in self.upstreams.values():
                await pool.start()
            self._refresh = asyncio.create_task(self._refresh_keys(), name="signing-key-refresh")
            if self.contracts is not None:  # data contracts (issue 7): the masking keys, before serving
                await self.contracts.load(SqlSecretStore(self.services.db, self.services.keyring))
            if self.evidence is not None:
                await self.evidence.start()  # evidence plane (issue 8)
                # Configuration is read once at start-up: a changed config shows as a new fingerprint here.
                fingerprint = hashlib.sha256(self.settings.model_dump_json().encode()).hexdigest()
                started = {"node": self.node_id, "config": fingerprint}
                self.evidence.trail.security("node.started", rules=started)
            if self.notices is not None:
                self.notices.start()  # vendor reminders and overdue reviews (issue 9)
            return
        if self.notices is not None:
            await self.notices.stop()  # vendor reminders and overdue reviews (issue 9)
        if self.evidence is not None:
            await self.evidence.stop()  # evidence plane (issue 8): drains the spool while the store is open
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
        for pool in self.upstreams.values():
            await pool.close()
        await self.fetcher.close()
        await self.services.shared.close()

    async def _refresh_keys(self) -> None:
        """Pick up signing keys other nodes made, and rotate ours when due."""
        while True:
            await asyncio.sleep(KEY_REFRESH_SECONDS)
            try:
                await self.services.signing_keys.ensure_current(time.time())
            except Exception:  # a store hiccup must not end the loop; the next round retries
                log.warning("signing_key_refresh_failed", exc_info=True)

    def readiness(self) -> dict[str, Any]:
        health = {name: pool.health() for name, pool in self.upstreams.items()}
        shared = self.services.shared
        return {
            "ready": all(h.ready for h in health.values()) and shared.connected,
            "node": self.node_id,
            "shared_state": {"backend": shared.label, "connected": shared.connected},
            "upstreams": {name: h.as_dict() for name, h in health.items()},
        }


async def run_node(
    resolved: ResolvedSettings,
    extra_listeners: Sequence[Listener] = (),
    on_ready: OnReady | None = None,
) -> None:
    """Start one node: logging, services (store, keyring, shared state), the listeners.

    Returns after SIGINT/SIGTERM once requests in flight have drained. A wrong
    or missing master key, or an unreachable store, stops it before any
    listener opens.
    """
    settings = resolved.settings
    configure_logging(settings.logging.level, settings.logging.format)
    services = await Services.open(resolved)
    try:
        node = Node(settings, services)
        listeners = [
            Listener(node.public_app, settings.listeners.public, "public"),
            Listener(node.admin_app, settings.listeners.admin, "admin"),
            *extra_listeners,
        ]
        log.info("node_starting", node=node.node_id, store=services.db.label, shared=services.shared.label)
        await serve(listeners, drain_seconds=settings.listeners.drain_seconds, on_ready=on_ready)
        log.info("node_stopped", node=node.node_id)
    finally:
        await services.close()
