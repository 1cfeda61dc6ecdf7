"""Stage: authorise. The caller's grant against the parsed request gives one ``AccessDecision``.

A denial ends the exchange with 403 naming the missing permission. An allowance
carries obligations, each met here or in the response check, never skipped:
narrowing the upstream query, checking a request body, checking the current
version of a resource before a write, authorising each Bundle entry, and
checking the response before it leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from phigate.errors import Forbidden, PayloadTooLarge, RequestError
from phigate.exchange import Exchange
from phigate.fhir.parser import parse_request
from phigate.fhir.request import FhirRequest, Interaction
from phigate.pipeline.upstream_read import read_current
from phigate.policy.access import decide, decide_bundle
from phigate.policy.checks import check_resource
from phigate.policy.decisions import (
    AccessDecision,
    AuthoriseEntries,
    CheckCurrent,
    CheckRequest,
    CheckResponse,
    NarrowSearch,
)
from phigate.policy.grants import Grant
from phigate.proxy import UpstreamPool


def denied(decision: AccessDecision, where: str = "") -> Forbidden:
    missing = f" Needed: {decision.missing}." if decision.missing else ""
    return Forbidden(f"{where}{decision.reason}{missing}")


class Authorise:
    def __init__(self, upstream: UpstreamPool, max_body_bytes: int) -> None:
        self.upstream = upstream
        self.max_body_bytes = max_body_bytes

    async def __call__(self, ex: Exchange) -> None:
        assert ex.fhir is not None
        if ex.fhir.interaction is Interaction.CAPABILITIES:
            return
        if ex.identity is None:
            raise Forbidden()  # default deny: no identity, no access
        grant = ex.identity.grant
        decision = decide(ex.fhir, grant)
        if not decision.allowed:
            raise denied(decision)
        ex.facts["access"] = decision.reason
        for obligation in decision.obligations:
            if isinstance(obligation, NarrowSearch):
                ex.fhir = obligation.apply(ex.fhir)
                ex.query = ex.fhir.to_query()
            elif isinstance(obligation, CheckResponse):
                ex.response_checks.append(obligation)
            elif isinstance(obligation, CheckRequest):
                _require(check_resource(await _json_body(ex, self.max_body_bytes), obligation.check))
            elif isinstance(obligation, CheckCurrent):
                current = await read_current(self.upstream, ex)
                if current is not None:
                    _require(check_resource(current, obligation.check))
            elif isinstance(obligation, AuthoriseEntries):
                await self._entries(ex, grant)
            else:  # an obligation this stage does not know is a refusal, never a pass
                raise Forbidden()

    async def _entries(self, ex: Exchange, grant: Grant) -> None:
        """Each entry of a batch or transaction is authorised on its own; one denial refuses the Bundle."""
        bundle = await _json_body(ex, self.max_body_bytes)
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise RequestError("Bundle.entry must be a list.")
        requests = [_entry_request(entry, index) for index, entry in enumerate(entries)]
        for index, decision in enumerate(decide_bundle(requests, grant)):
            if not decision.allowed:
                raise denied(decision, f"Bundle.entry[{index}]: ")
            if decision.obligations:
                # Narrowing, body and response checks are applied per request, not inside a Bundle
                # (yet): an entry that needs one must be sent on its own.
                raise Forbidden(
                    f"Bundle.entry[{index}]: this entry is allowed only with checks the gateway applies to "
                    "single requests; send it as its own request."
                )


def _require(decision: AccessDecision) -> None:
    if not decision.allowed:
        raise denied(decision)


async def _json_body(ex: Exchange, limit: int) -> Mapping[str, Any]:
    body = await ex.request_body(limit)
    if len(body) > limit:
        raise PayloadTooLarge()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise RequestError("The request body must be a JSON object.")
    return parsed


def _entry_request(entry: Any, index: int) -> FhirRequest:
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        raise RequestError(f"Bundle.entry[{index}].request needs a method and a url.")
    url = request.get("url")
    if not isinstance(url, str) or not url or "://" in url:
        raise RequestError(f"Bundle.entry[{index}].request.url must be a relative URL such as Patient/1.")
    parts = urlsplit(url)
    try:
        return parse_request(request["method"].upper(), "/" + parts.path.lstrip("/"), parts.query)
    except RequestError as error:
        raise RequestError(f"Bundle.entry[{index}].request.url: {error.message}") from None
