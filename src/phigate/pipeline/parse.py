"""Stage: parse the FHIR request into a typed value (``phigate.fhir``).

A search by POST (``[type]/_search`` with a form body) is read here and folded
into the query string, so the policy decides on every parameter the upstream
would see, and the upstream receives the (possibly narrowed) search as a GET.
"""

from __future__ import annotations

from phigate.errors import PayloadTooLarge, RequestError
from phigate.exchange import Exchange
from phigate.fhir.parser import parse_request
from phigate.fhir.query import MAX_QUERY_CHARS, parse_query

FORM = "application/x-www-form-urlencoded"


def is_form_search(ex: Exchange) -> bool:
    return ex.method == "POST" and ex.relative_path.rstrip("/").endswith("/_search")


async def parse(ex: Exchange) -> None:
    if is_form_search(ex):
        ex.query = await _with_form(ex)
    ex.fhir = parse_request(ex.method, ex.relative_path, ex.query)
    ex.facts["interaction"] = ex.fhir.interaction.value
    if ex.fhir.resource_type is not None:
        ex.facts["resource_type"] = ex.fhir.resource_type


async def _with_form(ex: Exchange) -> str:
    media_type = (ex.header("content-type") or "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise RequestError(f"A search by POST sends its parameters as {FORM}.")
    body = await ex.request_body(MAX_QUERY_CHARS)
    if len(body) > MAX_QUERY_CHARS:
        raise PayloadTooLarge()
    try:
        form = parse_query(body.decode("utf-8"), form=True).to_query()
    except UnicodeDecodeError:
        raise RequestError("The search form is not valid UTF-8.") from None
    return "&".join(part for part in (ex.query, form) if part)
