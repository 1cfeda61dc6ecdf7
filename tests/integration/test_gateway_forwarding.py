"""Forwarding through a whole node: upstream faults become clear OperationOutcomes, never a hang."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from fixtures.gateway_stack import free_port, in_process_node
from phigate.adapters.pki import ensure_dev_pki
from phigate.settings import Settings, parse_settings

SEEN = web.AppKey("seen", list[dict[str, str]])
METADATA = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
}


async def capability(request: web.Request) -> web.Response:
    seen = dict(request.headers)
    request.app[SEEN].append(seen)
    return web.json_response(
        METADATA,
        content_type="application/fhir+json",
        headers={
            "Server": "HAPI-FHIR/6.0 (Jetty 9)",
            "X-Powered-By": "HAPI FHIR 6.0.0 REST Server",
            "Set-Cookie": "JSESSIONID=abc",
            "Location": f"http://127.0.0.1:{request.url.port}/fhir/metadata",
        },
    )


@pytest.fixture
async def plain_upstream() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    app = web.Application()
    app[SEEN] = []
    app.router.add_get("/fhir/metadata", capability)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}/fhir", app[SEEN]
    await runner.cleanup()


@pytest.fixture
async def silent_upstream() -> AsyncIterator[str]:
    """Accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/fhir"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


def settings_for(targets: list[str], **upstream: Any) -> Settings:
    return parse_settings(
        {
            "environment": "dev",
            "listeners": {
                "public": {"port": 8443, "plain_http": True},
                "admin": {"port": 9443, "plain_http": True},
            },
            "upstreams": {"ehr": {"targets": [{"url": t} for t in targets], **upstream}},
            "routes": [{"base": "/fhir", "upstream": "ehr"}],
            "storage": {"url": "sqlite+aiosqlite:///:memory:"},
            "master_key": {"env": "PHIGATE_TEST_MASTER_KEY"},
        }
    )


async def call(settings: Settings, path: str, **kwargs: Any) -> httpx.Response:
    async with in_process_node(settings) as node:
        transport = httpx.ASGITransport(app=node.public_app)
        async with httpx.AsyncClient(transport=transport, base_url="https://gw.example") as http:
            return await http.get(path, **kwargs)


async def test_upstream_identity_headers_are_stripped_and_location_rewritten(
    plain_upstream: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = plain_upstream
    reply = await call(
        settings_for([url], health_check={"interval_seconds": 60}),
        "/fhir/metadata",
        headers={
            "x-request-id": "trace-abcdef12",
            "authorization": "Bearer x",
            "cookie": "a=b",
            "x-custom": "1",
        },
    )
    assert reply.status_code == 200
    assert reply.json() == METADATA
    for header in ("server", "x-powered-by", "set-cookie"):
        assert header not in reply.headers
    assert reply.headers["location"] == "https://gw.example/fhir/metadata"
    forwarded = [h for h in ({k.lower(): v for k, v in s.items()} for s in seen) if "x-forwarded-proto" in h]
    assert len(forwarded) == 1  # the health checks are the other requests
    upstream_saw = forwarded[0]
    assert upstream_saw["x-request-id"] == "trace-abcdef12"  # propagated
    assert upstream_saw["x-forwarded-proto"] == "https"
    for header in ("authorization", "cookie", "x-custom"):
        assert header not in upstream_saw  # the caller's credentials stay at the gateway


async def test_failover_to_the_second_target_when_the_first_is_down(
    plain_upstream: tuple[str, list[dict[str, str]]],
) -> None:
    url, _ = plain_upstream
    dead = f"http://127.0.0.1:{free_port()}/fhir"
    reply = await call(settings_for([dead, url], health_check={"interval_seconds": 60}), "/fhir/metadata")
    assert reply.status_code == 200


async def test_upstream_refused_is_an_outcome_without_detail() -> None:
    dead = f"http://127.0.0.1:{free_port()}/fhir"
    reply = await call(settings_for([dead], health_check={"interval_seconds": 60}), "/fhir/metadata")
    assert reply.status_code in (502, 503)
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert "127.0.0.1" not in reply.text and "refused" not in reply.text.lower()


async def test_a_silent_upstream_is_a_504_within_the_read_timeout(silent_upstream: str) -> None:
    settings = settings_for(
        [silent_upstream],
        timeouts={"connect": 1, "read": 0.5, "total": 2},
        health_check={"interval_seconds": 60},
    )
    reply = await asyncio.wait_for(call(settings, "/fhir/metadata"), timeout=5)
    assert reply.status_code == 504
    assert reply.json()["issue"][0]["code"] == "timeout"


async def test_an_untrusted_upstream_certificate_is_a_502_never_a_downgrade(tmp_path: Path) -> None:
    trusted = ensure_dev_pki(tmp_path / "trusted")
    impostor = ensure_dev_pki(tmp_path / "impostor")  # another CA, not configured
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(impostor.server_cert, impostor.server_key)
    app = web.Application()
    app.router.add_get("/fhir/metadata", capability)
    app[SEEN] = []
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        settings = settings_for(
            [f"https://127.0.0.1:{port}/fhir"],
            ca_file=str(trusted.ca_cert),
            health_check={"interval_seconds": 60},
        )
        reply = await call(settings, "/fhir/metadata")
    finally:
        await runner.cleanup()
    assert reply.status_code in (502, 503)
    assert "certificate" not in reply.text.lower()
    assert app[SEEN] == []  # nothing reached the impostor
