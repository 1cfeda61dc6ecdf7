"""The admin API's vendor routes (``/admin/vendors...``): JSON in and out, behind the admin bearer secret.

Why a bearer secret rather than mTLS: the admin listener is loopback by default
and often sits behind an operator's own proxy or a port-forward, where a client
certificate does not survive; a long random secret compared in constant time
works in every one of those set-ups, and mTLS can still be added on the listener.

Errors are JSON ``{"error": code, "message": safe message}``; an unexpected
failure is logged by type only and answered with a generic 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from phigate.admin.vendor_lifecycle import attestation_of_file
from phigate.admin.vendors import VendorAdmin
from phigate.errors import ConfigError, PayloadTooLarge, PhigateError, RequestError
from phigate.settings.admin_api import MIN_TOKEN_CHARS, AdminApiSettings
from phigate.vendors.offboarding import Attestation
from phigate.vendors.records import check_vendor_id

log = structlog.get_logger("phigate.admin")
Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY = 16_384
ATTESTATION_MAX_BODY = 8 * 1024 * 1024  # an offboarding request carries the signed file (base64): ~6 MiB
ACTOR = "admin-api"


def load_admin_token(settings: AdminApiSettings) -> str | None:
    """The admin bearer secret, read once at start-up; None when the admin API is not configured."""
    return _secret(settings.token_file, settings.token_env, "token")


def load_launch_token(settings: AdminApiSettings) -> str | None:
    """The EHR's launch-only bearer secret (``POST /admin/launches``), or None."""
    return _secret(settings.launch_token_file, settings.launch_token_env, "launch_token")


def _secret(file: Path | None, env: str | None, key: str) -> str | None:
    if file is not None:
        try:
            token = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"admin_api.{key}_file: cannot be read ({exc.strerror})") from None
    elif env is not None:
        token = os.environ.get(env, "").strip()
    else:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"admin_api.{key}: the secret must have at least {MIN_TOKEN_CHARS} characters")
    return token


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def guarded(token: str, handler: Handler, *others: str) -> Handler:
    """``handler`` behind the bearer secret ``token`` (or one of ``others``), compared in constant time."""
    expected = [f"Bearer {secret}".encode() for secret in (token, *others)]

    async def endpoint(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("utf-8", "replace")
        if not any([hmac.compare_digest(given, secret) for secret in expected]):  # every one compared
            challenge = {"www-authenticate": 'Bearer realm="phigate-admin"'}
            return error_response(401, "login", "A valid admin bearer token is required.", challenge)
        try:
            return await handler(request)
        except PhigateError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Exception as exc:  # answer safely; log the kind only (no stack, no values)
            log.error("admin_api_failed", path=request.url.path, error=type(exc).__name__)
            return error_response(500, "exception", "The admin request could not be processed.")

    return endpoint


async def capped_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is declared or read past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge()
    return bytes(body)


async def json_body(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    body = await capped_body(request, limit)
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise RequestError("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise RequestError("The request body must be a JSON object.")
    return document


def text_field(document: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{name}: give a non-empty string.")
    return value


def required_text(document: dict[str, Any], name: str) -> str:
    value = text_field(document, name)
    assert value is not None
    return value


def words_field(document: dict[str, Any], name: str) -> tuple[str, ...]:
    value = document.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise RequestError(f"{name}: give a non-empty list of strings.")
    return tuple(value)


def vendor_routes(admin: VendorAdmin, token: str) -> list[BaseRoute]:
    async def list_vendors(_: Request) -> Response:
        return JSONResponse({"vendors": await admin.list()})

    async def show(request: Request) -> Response:
        return JSONResponse(await admin.show(request.path_params["vendor_id"]))

    async def incident(request: Request) -> Response:
        document = await json_body(request)
        summary = text_field(document, "summary")
        assert summary is not None
        places = document.get("jurisdictions", [])
        if not isinstance(places, list) or not all(isinstance(p, str) for p in places):
            raise RequestError("jurisdictions: give a list of codes such as US, EU, AU.")
        aware = text_field(document, "aware_at", required=False)
        view = await admin.record_incident(
            request.path_params["vendor_id"], summary, actor=ACTOR, source="admin-api",
            jurisdictions=frozenset(places), aware_at=_moment(aware) if aware else None,
        )  # fmt: skip
        return JSONResponse(view, status_code=201)

    async def suspend(request: Request) -> Response:
        reason = text_field(await json_body(request), "reason")
        assert reason is not None
        return JSONResponse(await admin.suspend(request.path_params["vendor_id"], reason, actor=ACTOR))

    async def reinstate(request: Request) -> Response:
        return JSONResponse(await admin.reinstate(request.path_params["vendor_id"], actor=ACTOR))

    return [
        Route("/admin/vendors", guarded(token, list_vendors), methods=["GET"]),
        Route("/admin/vendors/{vendor_id}", guarded(token, show), methods=["GET"]),
        Route("/admin/vendors/{vendor_id}/incidents", guarded(token, incident), methods=["POST"]),
        Route("/admin/vendors/{vendor_id}/suspend", guarded(token, suspend), methods=["POST"]),
        Route("/admin/vendors/{vendor_id}/reinstate", guarded(token, reinstate), methods=["POST"]),
        *lifecycle_routes(admin, token),
    ]


def lifecycle_routes(admin: VendorAdmin, token: str) -> list[BaseRoute]:
    """Sub-processor changes (A.4) and offboarding (A.11)."""

    async def listed(request: Request) -> Response:
        return JSONResponse({"subprocessors": await admin.subprocessors(request.path_params["vendor_id"])})

    async def propose(request: Request) -> Response:
        document = await json_body(request)
        view = await admin.propose_subprocessor(
            request.path_params["vendor_id"], name=required_text(document, "name"),
            service=required_text(document, "service"),
            data_categories=words_field(document, "data_categories"),
            locations=words_field(document, "locations"), actor=ACTOR,
        )  # fmt: skip
        return JSONResponse(view, status_code=201)

    async def approve(request: Request) -> Response:
        vendor_id, change_id = request.path_params["vendor_id"], request.path_params["change_id"]
        return JSONResponse(await admin.decide_subprocessor(vendor_id, change_id, approve=True, actor=ACTOR))

    async def object_to(request: Request) -> Response:
        reason = required_text(await json_body(request), "reason")
        vendor_id, change_id = request.path_params["vendor_id"], request.path_params["change_id"]
        return JSONResponse(
            await admin.decide_subprocessor(vendor_id, change_id, approve=False, actor=ACTOR, reason=reason)
        )

    async def offboard(request: Request) -> Response:
        vendor_id = request.path_params["vendor_id"]
        document = await json_body(request, ATTESTATION_MAX_BODY)
        attestation, content = _attestation(vendor_id, document, admin.now())
        return JSONResponse(await admin.offboard(vendor_id, attestation, content, actor=ACTOR))

    base = "/admin/vendors/{vendor_id}"
    return [
        Route(f"{base}/subprocessors", guarded(token, listed), methods=["GET"]),
        Route(f"{base}/subprocessors", guarded(token, propose), methods=["POST"]),
        Route(f"{base}/subprocessors/{{change_id}}/approve", guarded(token, approve), methods=["POST"]),
        Route(f"{base}/subprocessors/{{change_id}}/object", guarded(token, object_to), methods=["POST"]),
        Route(f"{base}/offboard", guarded(token, offboard), methods=["POST"]),
    ]


def _attestation(
    vendor_id: str, document: dict[str, Any], now: datetime
) -> tuple[Attestation | None, bytes | None]:
    """The attestation in an offboarding request; (None, None) when there is none (the use case refuses)."""
    given = document.get("attestation")
    if given is None:
        return None, None
    if not isinstance(given, dict):
        raise RequestError("attestation: give an object with disposition, signed_by, signed_on and file.")
    file = given.get("file")
    if not isinstance(file, dict):
        raise RequestError("attestation.file: give {name, content_base64}: the signed document.")
    try:
        content = base64.b64decode(required_text(file, "content_base64"), validate=True)
    except binascii.Error:
        raise RequestError("attestation.file.content_base64: not valid base64.") from None
    signed_on = required_text(given, "signed_on")
    try:
        day = date.fromisoformat(signed_on)
    except ValueError:
        raise RequestError("attestation.signed_on: give a date as YYYY-MM-DD.") from None
    attestation = attestation_of_file(
        check_vendor_id(vendor_id), disposition=required_text(given, "disposition"),
        signed_by=required_text(given, "signed_by"), signed_on=day, file_name=required_text(file, "name"),
        content=content, reason=text_field(document, "reason", required=False) or "", now=now,
    )  # fmt: skip
    return attestation, content


def _moment(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError("aware_at: give a time as YYYY-MM-DDTHH:MM:SS+00:00.") from None
    if parsed.tzinfo is None:
        raise RequestError("aware_at: give a time zone (such as +00:00).")
    return parsed
