"""Reads the gateway itself makes upstream to decide: the current version of a resource before a write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from phigate.errors import UpstreamError
from phigate.exchange import Exchange
from phigate.proxy import UpstreamPool, UpstreamRequest

MAX_RESOURCE_BYTES = 4 * 1024 * 1024


async def read_current(upstream: UpstreamPool, ex: Exchange) -> Mapping[str, Any] | None:
    """The resource an update or delete targets, as the upstream holds it now; None when it does not exist."""
    assert ex.fhir is not None and ex.fhir.resource_type is not None and ex.fhir.id is not None
    request = UpstreamRequest(
        method="GET",
        path=f"/{ex.fhir.resource_type}/{ex.fhir.id}",
        headers=[("accept", "application/fhir+json"), ("x-request-id", ex.request_id)],
        request_id=ex.request_id,
    )
    response = await upstream.send(request)
    try:
        if response.status in (404, 410):
            return None
        if response.status != 200:
            raise UpstreamError()
        body = await response.read(MAX_RESOURCE_BYTES)
    finally:
        await response.close()
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError() from None
    if not isinstance(resource, dict):
        raise UpstreamError()
    return resource
