"""The demo EHR as an ASGI app: FHIR R4 REST over JSON at ``base_path`` (default ``/fhir``).

::

    app = create_ehr_app(ResourceStore(generate(), journal=Path("ehr.jsonl")))

Every response is ``application/fhir+json``; every error is an OperationOutcome.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from phigate.demo.interactions import DEFAULT_MAX_BODY, Interactions
from phigate.demo.responses import fhir_response
from phigate.demo.store import ResourceStore
from phigate.errors import PhigateError
from phigate.fhir.outcome import operation_outcome, outcome_for

_HTTP_CODES = {404: "not-found", 405: "not-supported"}


def create_ehr_app(
    store: ResourceStore, base_path: str = "/fhir", *, max_body_bytes: int = DEFAULT_MAX_BODY
) -> Starlette:
    routes = _routes(Interactions(store, max_body_bytes))
    if base_path.strip("/"):
        routes = [Mount(base_path.rstrip("/"), routes=routes)]
    handlers = {PhigateError: _phigate_error, HTTPException: _http_error, Exception: _server_error}
    return Starlette(routes=routes, exception_handlers=handlers)


def _routes(api: Interactions) -> list[BaseRoute]:
    # Order matters: literal segments (_search, _history, $everything) before the id patterns.
    return [
        Route("/metadata", api.metadata, methods=["GET"]),
        Route("/{type}/_search", api.search_post, methods=["POST"]),
        Route("/Patient/{id}/$everything", api.everything, methods=["GET"]),
        Route("/{type}/{id}/_history/{vid}", api.vread, methods=["GET"]),
        Route("/{type}/{id}/_history", api.history, methods=["GET"]),
        Route("/Patient/{id}/{target}", api.compartment, methods=["GET"]),
        Route("/{type}/{id}", api.read, methods=["GET"]),
        Route("/{type}/{id}", api.update, methods=["PUT"]),
        Route("/{type}/{id}", api.delete, methods=["DELETE"]),
        Route("/{type}", api.search, methods=["GET"]),
        Route("/{type}", api.create, methods=["POST"]),
    ]


async def _phigate_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PhigateError)
    return fhir_response(outcome_for(exc), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid")
    message = "No such route." if exc.status_code == 404 else "This method is not supported on this path."
    return fhir_response(operation_outcome(code, message), exc.status_code, dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    return fhir_response(operation_outcome("exception", "The demo EHR failed to process the request."), 500)
