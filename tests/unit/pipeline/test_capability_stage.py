"""The CapabilityStatement names this gateway's OAuth endpoints; an unchanged one is not rewritten again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from phigate.errors import UpstreamError
from phigate.exchange import Exchange, Reply
from phigate.fhir.parser import parse_request
from phigate.oauth.endpoints import Endpoints
from phigate.pipeline.capability import OAUTH_URIS, AdvertiseSecurity

ENDPOINTS = Endpoints("https://gw.example", ("https://gw.example/fhir",))


class Upstream:
    """An upstream body, read once (as the proxy's streamed reply is)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.closed = False

    async def read(self, limit: int) -> bytes:
        return self.body[:limit]

    async def close(self) -> None:
        self.closed = True


async def advertised(stage: AdvertiseSecurity, ex: Exchange, statement: dict[str, Any]) -> dict[str, Any]:
    ex.fhir = parse_request("GET", "/metadata", "")
    upstream = Upstream(orjson.dumps(statement))
    ex.reply = Reply(200, [("content-type", "application/fhir+json"), ("content-length", "9")], upstream)  # type: ignore[arg-type]
    await stage(ex)
    assert upstream.closed and isinstance(ex.reply.body, bytes)
    assert "content-length" not in dict(ex.reply.headers)
    document: dict[str, Any] = orjson.loads(ex.reply.body)
    return document


def statement(version: str) -> dict[str, Any]:
    return {"resourceType": "CapabilityStatement", "version": version, "rest": [{"mode": "server"}]}


async def test_the_oauth_uris_are_added_and_a_changed_statement_is_read_again(
    make_exchange: Callable[..., Exchange],
) -> None:
    stage = AdvertiseSecurity(ENDPOINTS, people=True)
    first = await advertised(stage, make_exchange(path="/fhir/metadata"), statement("1"))
    uris = {e["url"]: e["valueUri"] for e in first["rest"][0]["security"]["extension"][0]["extension"]}
    assert first["rest"][0]["security"]["extension"][0]["url"] == OAUTH_URIS
    assert uris == {"authorize": "https://gw.example/oauth2/authorize", "token": "https://gw.example/oauth2/token",
                    "introspect": "https://gw.example/oauth2/introspect",
                    "revoke": "https://gw.example/oauth2/revoke"}  # fmt: skip
    kept = stage._last[1]
    again = make_exchange(path="/fhir/metadata")
    assert await advertised(stage, again, statement("1")) == first
    assert again.reply is not None and again.reply.body is kept  # the kept rewrite, not a new parse and dump
    changed = await advertised(stage, make_exchange(path="/fhir/metadata"), statement("2"))
    assert changed["version"] == "2" and "security" in changed["rest"][0]  # never a stale statement


async def test_a_statement_that_is_not_json_is_an_upstream_error(
    make_exchange: Callable[..., Exchange],
) -> None:
    stage = AdvertiseSecurity(ENDPOINTS, people=False)
    ex = make_exchange(path="/fhir/metadata")
    ex.fhir = parse_request("GET", "/metadata", "")
    ex.reply = Reply(200, [], Upstream(b"<html>not a statement</html>"))  # type: ignore[arg-type]
    with pytest.raises(UpstreamError):
        await stage(ex)
