"""The vendors' signed incident webhook on the PUBLIC listener: ``POST /vendor-webhooks/incidents``.

Served outside the FHIR pipeline (a vendor's report carries no access token: its
HMAC signature is the credential, see :mod:`phigate.vendors.webhook`). Replies
are JSON ``{"error": code, "message": safe message}`` on failure; the body is
capped before it is read in full.
"""

from __future__ import annotations

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from phigate.admin.vendor_webhook import IncidentWebhook
from phigate.asgi.admin_vendors import error_response
from phigate.errors import PayloadTooLarge, PhigateError

log = structlog.get_logger("phigate.webhook")
PATH = "/vendor-webhooks/incidents"
PREFIX = "/vendor-webhooks/"
MAX_BODY = 16_384


async def capped_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge()
    return body


def create_webhook_app(webhook: IncidentWebhook) -> Starlette:
    async def incidents(request: Request) -> Response:
        try:
            body = await capped_body(request)
            h = request.headers
            status, document = await webhook.report(
                h.get("x-phigate-vendor", ""), h.get("x-phigate-timestamp", ""),
                h.get("x-phigate-signature", ""), h.get("idempotency-key", ""), body,
                request.client.host if request.client is not None else "",
            )  # fmt: skip
        except PhigateError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Exception as exc:  # answer safely; log the kind only (no stack, no values)
            log.error("vendor_webhook_failed", error=type(exc).__name__)
            return error_response(500, "exception", "The report could not be processed.")
        return JSONResponse(document, status_code=status)

    async def not_found(_: Request, __: Exception) -> Response:
        return error_response(404, "not-found", "No such webhook.")

    async def not_allowed(_: Request, __: Exception) -> Response:
        return error_response(405, "not-supported", "Send the report with POST.")

    return Starlette(
        routes=[Route(PATH, incidents, methods=["POST"])],
        exception_handlers={404: not_found, 405: not_allowed},
    )
