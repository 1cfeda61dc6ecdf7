"""A honey-token read through the gateway: a critical alert, stored, logged, sent to a webhook with an
HMAC-signed body, and answered at once (the client's tokens revoked, the client suspended), each audited."""

from __future__ import annotations

import asyncio
import hmac
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from fixtures.gateway_stack import Stack, free_port, running_stack
from phigate.adapters.sql.audit import AuditQuery
from phigate.cli.token import client_assertion
from phigate.monitor.alerts import signature
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import ClientId
from phigate.vendors.clients import ClientStatus

SECRET = "webhook-test-secret"


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


@pytest.fixture
async def stack(
    tmp_path: Path, hook: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    monkeypatch.setenv("PHIGATE_TEST_WEBHOOK_SECRET", SECRET)
    audit = {
        "flush_interval_seconds": 0.05,
        "detectors": {"honey_patients": ["pat-canary"]},
        "reactions": {"suspend_client": ["honey-token"], "revoke_tokens": ["honey-token"]},
        "webhook_url": hook[0],
        "webhook_secret_env": "PHIGATE_TEST_WEBHOOK_SECRET",
    }
    async with running_stack(tmp_path, audit=audit) as running:
        yield running


async def token(client: httpx.AsyncClient, creds: dict[str, Any]) -> httpx.Response:
    form = {"grant_type": "client_credentials", "scope": creds["scopes"],
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(creds)}  # fmt: skip
    return await client.post(creds["token_endpoint"], data=form)


async def test_honey_token_read_alerts_and_suspends_the_client(
    stack: Stack, hook: tuple[str, list[Any]]
) -> None:
    creds = await stack.register("sneaky-app", "system/Patient.rs")
    evidence = stack.node.evidence
    assert evidence is not None
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert)) as client:
        bearer = (await token(client, creds)).json()["access_token"]
        headers = {"authorization": f"Bearer {bearer}"}
        benign = await client.get(f"{stack.public}/fhir/Patient/pat-0001", headers=headers)
        assert benign.status_code == 200
        await asyncio.sleep(0.2)
        assert evidence.desk.raised == [] and hook[1] == []  # ordinary reads raise nothing
        canary = await client.get(f"{stack.public}/fhir/Patient/pat-canary", headers=headers)
        assert canary.status_code == 200
        for _ in range(100):  # the reaction runs off the request path
            if (
                hook[1]
                and (await stack.node.services.clients.get(ClientId("sneaky-app"))).status
                is ClientStatus.disabled
            ):  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        after = await client.get(f"{stack.public}/fhir/Patient/pat-0001", headers=headers)
        assert after.status_code == 401  # the token was revoked on the node's shared revocation list
        assert (await token(client, creds)).status_code in (400, 401)  # a suspended client gets no new token

    [alert] = evidence.desk.raised
    assert (alert.detector, alert.severity, alert.client_id) == ("honey-token", "critical", "sneaky-app")
    [(headers_sent, body)] = hook[1]
    stamp = headers_sent["x-phigate-timestamp"]
    assert hmac.compare_digest(headers_sent["x-phigate-signature"], signature(SECRET.encode(), stamp, body))
    payload = orjson.loads(body)
    assert payload["detector"] == "honey-token" and "Canary" not in body.decode()
    for _ in range(100):
        trail = await evidence.store.search(AuditQuery(client_id="sneaky-app"))
        actions = [e.event["action"] for e in trail if e.event["kind"] in ("alert", "reaction")]
        if len(actions) == 3:
            break
        await asyncio.sleep(0.05)
    assert actions == ["honey-token", "client.tokens_revoked", "client.suspended"]
    [stored_alert] = await evidence.store.alerts()
    assert stored_alert["detector"] == "honey-token"
