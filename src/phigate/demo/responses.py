"""HTTP edges of the demo EHR: FHIR JSON responses, request bodies, content types, version headers."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from phigate.demo.store import StoredVersion
from phigate.errors import PayloadTooLarge, RequestError

FHIR_JSON = "application/fhir+json; charset=utf-8"
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
FORM_TYPE = "application/x-www-form-urlencoded"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_VERSION_TAG = re.compile(r'(?:W/)?"?(\d{1,9})"?')


class UnsupportedMediaType(RequestError):
    status = 415
    code = "not-supported"
    message = "The request body must be FHIR JSON (application/fhir+json)."


def fhir_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, status_code=status, headers=headers, media_type=FHIR_JSON)


def version_headers(stored: StoredVersion) -> dict[str, str]:
    modified = datetime.fromisoformat(stored.last_updated)
    return {"ETag": stored.etag, "Last-Modified": format_datetime(modified, usegmt=True)}


def fhir_base(request: Request) -> str:
    """The FHIR base URL of this request: scheme, host and the path the app is mounted at.

    Behind the gateway, the public base comes from ``X-Forwarded-Proto``, ``-Host`` and
    ``-Prefix`` (as HAPI FHIR does), so Bundle links and ``fullUrl`` point at the gateway,
    never past it. The demo EHR listens on loopback only, where the gateway is its one caller.
    """
    forwarded = [request.headers.get(f"x-forwarded-{part}") for part in ("proto", "host", "prefix")]
    if all(forwarded) and forwarded[0] in ("http", "https") and "/" not in str(forwarded[1]):
        proto, host, prefix = forwarded
        return f"{proto}://{host}{prefix}".rstrip("/")
    root = request.scope.get("root_path", "")
    return str(request.url.replace(path=root, query="", fragment="")).rstrip("/")


def valid_id(resource_id: str) -> bool:
    return _ID.fullmatch(resource_id) is not None


def version_tag(header: str | None) -> int | None:
    """The version an ``If-Match``/``If-None-Match`` header names (``W/"3"``), or None if absent."""
    if header is None:
        return None
    match = _VERSION_TAG.fullmatch(header.strip())
    if match is None:
        raise RequestError("If-Match must carry a version ETag such as W/\"1\".")
    return int(match.group(1))


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_resource(request: Request, resource_type: str, limit: int) -> dict[str, Any]:
    """A JSON resource body of ``resource_type``; 415 for another media type, 400 if it is not one."""
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType()
    body = await read_body(request, limit)
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("The request body is not valid JSON.") from None
    if not isinstance(resource, dict):
        raise RequestError("The request body must be a JSON object (a FHIR resource).")
    if resource.get("resourceType") != resource_type:
        raise RequestError("The resourceType of the body does not match the type in the URL.")
    if "meta" in resource and not isinstance(resource["meta"], dict):
        raise RequestError("meta must be a JSON object.")
    return resource


def prefers_minimal(request: Request) -> bool:
    return "return=minimal" in request.headers.get("prefer", "")


def prefers_strict(request: Request) -> bool:
    return "handling=strict" in request.headers.get("prefer", "")
