"""The admin listener's application (loopback by default): Prometheus metrics, health, the admin API.

The admin API (``/admin/...``, issue 9) is served only when an admin token is
configured (``admin_api.token_file`` or ``token_env``); its OpenAPI document is
at ``/admin/openapi.json`` (public: it describes routes, not data).

Starlette is fine here: nothing on this listener is on the request hot path.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from phigate.admin.vendors import VendorAdmin
from phigate.asgi.admin_launches import launch_routes
from phigate.asgi.admin_openapi import OPENAPI
from phigate.asgi.admin_vendors import error_response, vendor_routes
from phigate.asgi.gateway import Readiness
from phigate.monitor.metrics import GatewayMetrics
from phigate.oauth.smart.ehr_launch import EhrLaunches

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def create_admin_app(
    metrics: GatewayMetrics,
    readiness: Readiness,
    vendors: VendorAdmin | None = None,
    admin_token: str | None = None,
    launches: EhrLaunches | None = None,
    launch_token: str | None = None,
) -> Starlette:
    """``launch_token``: the EHR's secret, good for ``POST /admin/launches`` only (beside the admin token)."""
    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.render(), media_type=PROMETHEUS_TEXT, headers={"cache-control": "no-store"})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        report = readiness()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    async def openapi(_: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def not_found(_: Request, __: Exception) -> Response:
        return error_response(404, "not-found", "No such admin route.")

    async def not_allowed(_: Request, __: Exception) -> Response:
        return error_response(405, "not-supported", "The method is not allowed on this admin route.")

    routes: list[BaseRoute] = [
        Route("/metrics", metrics_endpoint),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if vendors is not None and admin_token is not None:
        routes += [Route("/admin/openapi.json", openapi), *vendor_routes(vendors, admin_token)]
    launch_tokens = [token for token in (admin_token, launch_token) if token is not None]
    if launches is not None and launch_tokens:  # EHR launch contexts (issue 4)
        routes += launch_routes(launches, *launch_tokens)
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
