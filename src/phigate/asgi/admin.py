"""The admin listener's application (loopback by default): Prometheus metrics and health.

Starlette is fine here: nothing on this listener is on the request hot path.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from phigate.asgi.gateway import Readiness
from phigate.monitor.metrics import GatewayMetrics

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def create_admin_app(metrics: GatewayMetrics, readiness: Readiness) -> Starlette:
    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.render(), media_type=PROMETHEUS_TEXT, headers={"cache-control": "no-store"})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        report = readiness()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    return Starlette(
        routes=[
            Route("/metrics", metrics_endpoint),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )
