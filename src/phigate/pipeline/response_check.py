"""Stage: check the upstream's answer against the grant before it leaves (after forward).

Only when the authorise stage left a ``CheckResponse`` obligation is the body
read and parsed; otherwise it streams through untouched. A single resource that
fails is refused with 403; entries of a search result that fail are removed
(``Bundle.total`` lowered to match), so nothing outside the grant leaves even
when the upstream ignored a narrowing parameter.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog

from phigate.errors import UpstreamError
from phigate.exchange import Exchange, Reply
from phigate.pipeline.authorise import denied
from phigate.policy.checks import check_bundle, check_resource

MAX_CHECKED_BYTES = 32 * 1024 * 1024
log = structlog.get_logger("phigate.pipeline")


async def check_response(ex: Exchange) -> None:
    if not ex.response_checks or ex.reply is None or isinstance(ex.reply.body, bytes):
        return
    if ex.reply.status >= 300:  # an OperationOutcome or a redirect carries no resource of the grant
        return
    if any(k.lower() == "content-encoding" and v.lower() != "identity" for k, v in ex.reply.headers):
        raise UpstreamError("The upstream sent an encoded body the gateway cannot check.")
    stream = ex.reply.body
    try:
        raw = await stream.read(MAX_CHECKED_BYTES)
    finally:
        await stream.close()
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError() from None
    if not isinstance(document, dict):
        raise UpstreamError()
    for check in ex.response_checks:
        document = _checked(document, check, ex)
    body = orjson.dumps(document)
    headers = [(k, v) for k, v in ex.reply.headers if k.lower() != "content-length"]
    ex.reply = Reply(ex.reply.status, headers, body)


def _checked(document: dict[str, Any], check: Any, ex: Exchange) -> dict[str, Any]:
    if document.get("resourceType") != "Bundle":
        decision = check_resource(document, check)
        if not decision.allowed:
            raise denied(decision)
        return document
    failing = set(check_bundle(document, check))
    if not failing:
        return document
    if document.get("type") != "searchset":
        raise denied(check_resource({}, check))
    kept = [entry for index, entry in enumerate(document.get("entry", [])) if index not in failing]
    document = {**document, "entry": kept}
    if isinstance(document.get("total"), int):
        document["total"] = max(0, document["total"] - len(failing))
    ex.facts["entries_withheld"] = len(failing)
    log.info("response_entries_withheld", request_id=ex.request_id, count=len(failing))
    return document
