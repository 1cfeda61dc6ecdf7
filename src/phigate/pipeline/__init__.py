"""The request path: an ordered tuple of stages over one ``Exchange``.

A stage is an async callable that adds facts to the exchange or ends it by
raising an error of the tree in ``phigate.errors``. The order is built once, at
start-up, in :func:`build_pipeline` and read top to bottom; no stage knows the
next. Stages that later capabilities fill (posture, network, rate, authorise,
validate) are named slots here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import structlog

from phigate.errors import PhigateError
from phigate.exchange import Exchange, Reply
from phigate.fhir.outcome import outcome_for
from phigate.guard.issues import InputRefused
from phigate.monitor.metrics import GatewayMetrics
from phigate.oauth.endpoints import Endpoints
from phigate.oauth.resource import ResourceServer
from phigate.pipeline.accept import Accept
from phigate.pipeline.audit import AuditTrail, ExchangeAudit
from phigate.pipeline.authorise import Authorise
from phigate.pipeline.capability import AdvertiseSecurity
from phigate.pipeline.contracts import ContractEnforcement, NarrowByContract
from phigate.pipeline.forward import Forward
from phigate.pipeline.identity import Authenticate
from phigate.pipeline.parse import parse
from phigate.pipeline.posture import PostureStage
from phigate.pipeline.record import Record
from phigate.pipeline.response_check import check_response
from phigate.pipeline.shape import ShapeHeaders
from phigate.pipeline.shape_body import ShapeBody
from phigate.pipeline.traffic import NetworkGuard, PreAuthGuard, RateGuard, Traffic
from phigate.pipeline.validate import Validate, guard_config
from phigate.proxy import UpstreamPool
from phigate.settings import Settings

Stage = Callable[[Exchange], Awaitable[None]]
FHIR_JSON = "application/fhir+json; charset=utf-8"

log = structlog.get_logger("phigate.pipeline")


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Stage, ...]
    shape: ShapeHeaders
    record: Record
    audit: Callable[[Exchange], None] | None = None  # spools the audit event before the reply leaves
    finish: tuple[Stage, ...] = ()  # after the reply is shaped, or the exchange was cut short (issue 5)

    async def run(self, ex: Exchange) -> Reply:
        """Run the stages; whatever happens, the exchange ends with one shaped reply."""
        try:
            return await self._run(ex)
        finally:
            for finish in self.finish:  # never raise: they free what stages hold (a concurrency slot)
                await finish(ex)

    async def _run(self, ex: Exchange) -> Reply:
        try:
            for stage in self.stages:
                await stage(ex)
        except PhigateError as error:
            ex.error = error
            ex.reply = error_reply(error)
        except Exception:
            log.exception("stage_failed", request_id=ex.request_id)
            ex.error = PhigateError()
            ex.reply = error_reply(ex.error)
        assert ex.reply is not None, "the last stage always sets a reply"
        self.shape(ex)
        if self.audit is not None:
            self.audit(ex)
        return ex.reply


def error_reply(error: PhigateError) -> Reply:
    body = orjson.dumps(error.outcome() if isinstance(error, InputRefused) else outcome_for(error))
    return Reply(status=error.status, headers=[("content-type", FHIR_JSON), *error.headers], body=body)


def build_pipeline(
    settings: Settings,
    route_base: str,
    upstream: UpstreamPool,
    metrics: GatewayMetrics,
    node_id: str,
    resource_server: ResourceServer,
    *,
    audit: AuditTrail | None = None,
    posture: PostureStage | None = None,
    traffic: Traffic | None = None,
    contracts: ContractEnforcement | None = None,
) -> Pipeline:
    """The stage order of one route (ARCHITECTURE.md, "The request path")."""
    upstream_bases = tuple(t.url for t in upstream.settings.targets)
    rate_guard = RateGuard(traffic) if traffic is not None else None
    address_header = settings.traffic.client_address_header  # X-Forwarded-For or Forwarded (issue 5)
    stages: tuple[Stage, ...] = (
        Accept(settings.limits, settings.listeners.trusted_proxies, route_base, address_header),
        *((PreAuthGuard(traffic),) if traffic is not None else ()),  # denylist, per-IP limit (issue 5)
        parse,  # before identity: it is cheap, and it tells which interactions are public
        Authenticate(resource_server, settings.issuer),
        *((posture,) if posture is not None else ()),  # the vendor's standing (issue 9)
        # [slot: network and rate stages (allowlists, limits, throttling), issue 5]
        *((NetworkGuard(traffic), rate_guard) if traffic is not None and rate_guard is not None else ()),
        Authorise(upstream, settings.limits.max_body_bytes),  # scopes, patient context, obligations
        *((NarrowByContract(contracts),) if contracts is not None else ()),  # data contract (issue 7)
        Validate(guard_config(settings, route_base), metrics),  # media, JSON/XML, FHIR structure, inspection
        Forward(upstream, settings.limits.max_body_bytes),
        check_response,  # the compartment and scope post-check, only when an obligation asks for it
        AdvertiseSecurity(Endpoints.of(settings), settings.people.enabled),  # /metadata names our OAuth URIs
        # [slot: response shaping stage (data contracts, masking, JWE), issue 7]
        *((ShapeBody(contracts, upstream_bases),) if contracts is not None else ()),  # issue 7
    )
    return Pipeline(
        stages=stages,
        shape=ShapeHeaders(settings.listeners.hsts_max_age, upstream_bases),
        record=Record(metrics, node_id),
        audit=ExchangeAudit(audit, settings.audit.inspect_max_bytes) if audit is not None else None,
        finish=(rate_guard.finish,) if rate_guard is not None else (),
    )
