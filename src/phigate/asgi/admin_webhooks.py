"""The vendors' signed incident webhook on the PUBLIC listener: ``POST /vendor-webhooks/incidents``.

Served outside the FHIR pipeline (a vendor's report carries no access token: its
HMAC signature is the credential, see :mod:`phigate.vendors.webhook`), but not
outside the traffic guard (:class:`WebhookGuard`): before anything is read, the
caller's address (trusted-proxy aware) must not be denied and must have budget
left in the node-wide per-address limit and in ``vendors.webhook_per_ip``; once
the signature holds, the vendor must have budget in ``vendors.webhook_per_vendor``
(counted only then, so forged reports naming a vendor cannot use its budget up).
Buckets live in the traffic guard's store, shared by every node. The body is
capped (16 KiB) before it is read in full; a replayed signed report is refused
(:mod:`phigate.admin.vendor_webhook`). Replies are JSON ``{"error": code,
"message": safe message}`` on failure, with ``Retry-After`` on 429.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from phigate.admin.vendor_webhook import IncidentWebhook
from phigate.asgi.admin_vendors import capped_body, error_response
from phigate.errors import PhigateError
from phigate.guard.limits import AddressRefused, BucketCheck, RateLimited
from phigate.guard.limits.plan import Limit
from phigate.pipeline.accept import client_address
from phigate.pipeline.traffic import Traffic
from phigate.settings import Settings

log = structlog.get_logger("phigate.webhook")
PATH = "/vendor-webhooks/incidents"
PREFIX = "/vendor-webhooks/"
MAX_BODY = 16_384
BUCKET = "vendor-webhook"


@dataclass(frozen=True)
class WebhookGuard:
    traffic: Traffic
    per_ip: Limit | None
    per_vendor: Limit | None
    address: Callable[[str, str | None], str]  # (peer, forwarding header) -> the caller's address
    address_header: str

    @classmethod
    def of(cls, settings: Settings, traffic: Traffic) -> WebhookGuard:
        header, rules = settings.traffic.client_address_header, settings.vendors
        return cls(
            traffic, Limit.maybe(rules.webhook_per_ip), Limit.maybe(rules.webhook_per_vendor),
            client_address(settings.listeners.trusted_proxies, header), header,
        )  # fmt: skip

    async def admit(self, peer: str, forwarded: str | None) -> str:
        """The caller's address, once it may send a report: 403 when denied, 429 when over a limit."""
        address = self.address(peer, forwarded)
        plan = self.traffic.plan
        if plan.deny.contains(address):
            raise AddressRefused()
        checks = plan.pre_auth(address)
        if self.per_ip is not None:
            checks.append(self.per_ip.check(f"ip:{address}", name=BUCKET))
        await self._spend(checks)
        return address

    async def admit_vendor(self, vendor_id: str) -> None:
        """After the signature holds: the vendor's own budget of reports (429 when spent)."""
        if self.per_vendor is not None:
            await self._spend([self.per_vendor.check(f"vendor:{vendor_id}", name=BUCKET)])

    async def _spend(self, checks: Sequence[BucketCheck]) -> None:
        verdicts = await self.traffic.spend(checks)  # None: the store is down and the guard fails open
        refused = next((v for v in verdicts or () if not v.allowed), None)
        if refused is not None:
            raise RateLimited.of(refused)


def create_webhook_app(webhook: IncidentWebhook, guard: WebhookGuard | None = None) -> Starlette:
    async def incidents(request: Request) -> Response:
        try:
            h = request.headers
            address = request.client.host if request.client is not None else ""
            if guard is not None:
                address = await guard.admit(address, h.get(guard.address_header))
            body = await capped_body(request, MAX_BODY)
            status, document = await webhook.report(
                h.get("x-phigate-vendor", ""), h.get("x-phigate-timestamp", ""),
                h.get("x-phigate-signature", ""), h.get("idempotency-key", ""), body, address,
            )  # fmt: skip
        except PhigateError as exc:
            return error_response(exc.status, exc.code, exc.message, dict(exc.headers) or None)
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
