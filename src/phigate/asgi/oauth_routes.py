"""The authorisation server's HTTP endpoints on the public listener (Starlette: not the FHIR hot path).

Token, introspection and revocation take ``application/x-www-form-urlencoded``
POSTs only; every reply is ``Cache-Control: no-store``; errors are OAuth error
JSON (RFC 6749 5.2), never a stack trace or an internal reason.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from phigate.errors import PhigateError
from phigate.oauth.endpoints import (
    INTROSPECT_PATH,
    JWKS_PATH,
    OIDC_DISCOVERY_PATH,
    REVOKE_PATH,
    SMART_DISCOVERY_SUFFIX,
    TOKEN_PATH,
)
from phigate.oauth.rfc6749.errors import InvalidClient, InvalidRequest, OAuthError
from phigate.oauth.rfc8705 import certificate_thumbprint
from phigate.oauth.server import AuthorizationServer, TransportFacts
from phigate.pipeline.traffic import TokenEndpointGuard

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
MAX_FORM_BYTES = 64 * 1024
log = structlog.get_logger("phigate.oauth")


def create_oauth_app(
    server: AuthorizationServer,
    jwks: Callable[[], dict[str, Any]],
    openid_configuration: dict[str, Any],
    smart_configuration: dict[str, Any],
    fhir_bases: tuple[str, ...],
    *,
    token_guard: TokenEndpointGuard | None = None,
    page_routes: Sequence[Route] = (),
) -> Starlette:
    async def token(request: Request) -> Response:
        form = await _form(request)
        if token_guard is None:
            return _json(await server.token(form, _transport(request, server.endpoints.token)))
        # Brute-force protection (issue 5): failed client authentications per address and per client.
        peer = request.client.host if request.client is not None else ""
        attempt = await token_guard.admit(peer, request.headers, form)
        try:
            return _json(await server.token(form, _transport(request, server.endpoints.token)))
        except InvalidClient:
            await attempt.failed()
            raise

    async def introspect(request: Request) -> Response:
        return _json(await server.introspect(await _form(request)))

    async def revoke(request: Request) -> Response:
        await server.revoke(await _form(request))
        return Response(status_code=200, headers=NO_STORE)

    async def jwks_endpoint(_: Request) -> Response:
        return JSONResponse(jwks(), headers={"cache-control": "public, max-age=300"})

    async def openid(_: Request) -> Response:
        return JSONResponse(openid_configuration, headers={"access-control-allow-origin": "*"})

    async def smart(_: Request) -> Response:
        return JSONResponse(smart_configuration, headers={"access-control-allow-origin": "*"})

    routes = [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(INTROSPECT_PATH, introspect, methods=["POST"]),
        Route(REVOKE_PATH, revoke, methods=["POST"]),
        Route(JWKS_PATH, jwks_endpoint, methods=["GET"]),
        Route(OIDC_DISCOVERY_PATH, openid, methods=["GET"]),
        *(Route(base + SMART_DISCOVERY_SUFFIX, smart, methods=["GET"]) for base in fhir_bases),
        *page_routes,  # people: sign-in, MFA, consent, userinfo (issue 4)
    ]
    handlers: Mapping[Any, Any] = {
        OAuthError: _oauth_error,
        PhigateError: _phigate_error,
        Exception: _failure,
    }
    return Starlette(routes=routes, exception_handlers=handlers)


async def _form(request: Request) -> dict[str, str]:
    """The form body, strictly: right media type, bounded size, each parameter at most once (RFC 6749 3.2)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("Send the parameters as application/x-www-form-urlencoded.")
    if "access_token" in request.query_params or request.url.query:
        raise InvalidRequest("Parameters go in the form body, never in the URL.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest("The request body is too large.")
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=50
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form body is not valid.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"The parameter {name[:40]} appears more than once.")
        form[name] = value
    return form


def _transport(request: Request, url: str) -> TransportFacts:
    tls = request.scope.get("extensions", {}).get("tls", {})
    chain = tls.get("client_cert_chain") or []
    thumbprint = certificate_thumbprint(ssl.PEM_cert_to_DER_cert(chain[0])) if chain else None
    return TransportFacts(
        dpop_proof=request.headers.get("dpop"),
        client_cert_thumbprint=thumbprint,
        method=request.method,
        url=url,
        client_ip=request.client.host if request.client is not None else "",
    )


def _json(payload: dict[str, Any]) -> Response:
    return JSONResponse(payload, headers=NO_STORE)


async def _oauth_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **dict(exc.headers)})


async def _phigate_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, PhigateError)
    body = {"error": "temporarily_unavailable" if exc.status >= 500 else "invalid_request",
            "error_description": exc.message}  # fmt: skip
    return JSONResponse(body, status_code=exc.status, headers={**NO_STORE, **dict(exc.headers)})


async def _failure(_: Request, exc: Exception) -> Response:
    log.error("oauth_endpoint_failed", error_type=type(exc).__name__)
    body = {
        "error": "server_error",
        "error_description": "The authorisation server could not process the request.",
    }
    return JSONResponse(body, status_code=500, headers=NO_STORE)
