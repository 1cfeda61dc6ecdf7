"""The audit trail end to end: one chained event per exchange and per token, durable and verifiable."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.audit import AuditQuery
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
SCOPES = f"system/Observation.rs?category={LAB} system/Patient.rs"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    audit = {"flush_interval_seconds": 0.05, "checkpoint_interval_seconds": 0.1}
    async with running_stack(tmp_path, audit=audit) as running:
        yield running


def http(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15)


async def token(stack: Stack, creds: dict[str, Any]) -> str:
    form = {
        "grant_type": "client_credentials",
        "scope": creds["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
    }
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=form)
    assert reply.status_code == 200, reply.text
    value: str = reply.json()["access_token"]
    return value


async def settle(stack: Stack, count: int) -> None:
    """Wait (bounded) until the writer has stored ``count`` events."""
    evidence = stack.node.evidence
    assert evidence is not None
    for _ in range(100):
        if await evidence.store.count() >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {await evidence.store.count()} of {count} events stored")


async def test_exchange_events_name_the_patients_whose_data_left(stack: Stack) -> None:
    creds = await stack.register("audit-lab", SCOPES)
    bearer = await token(stack, creds)
    async with http(stack) as client:
        headers = {"authorization": f"Bearer {bearer}"}
        search = await client.get(
            f"{stack.public}/fhir/Observation",
            params={"patient": "pat-canary", "category": LAB},
            headers=headers,
        )
        read = await client.get(f"{stack.public}/fhir/Patient/pat-canary", headers=headers)
        denied = await client.get(f"{stack.public}/fhir/Claim", headers=headers)
    assert (search.status_code, read.status_code, denied.status_code) == (200, 200, 403)
    evidence = stack.node.evidence
    assert evidence is not None
    wanted = {r.headers["x-request-id"] for r in (search, read, denied)}
    for _ in range(100):  # bounded wait for the writer (other security events may come first)
        stored = await evidence.store.search(AuditQuery(kind="exchange"))
        events = {e.event["request_id"]: e.event for e in stored}
        if wanted <= events.keys():
            break
        await asyncio.sleep(0.05)
    first = events[search.headers["x-request-id"]]
    assert first["patients"] == ["pat-canary"]
    assert first["client_id"] == "audit-lab" and first["vendor_id"] == "test-vendor"
    assert first["action"] == "search" and first["outcome"] == "ok"
    assert first["bytes_sent"] == len(search.content)
    assert events[read.headers["x-request-id"]]["patients"] == ["pat-canary"]
    refused = events[denied.headers["x-request-id"]]
    assert refused["outcome"] == "forbidden" and refused["patients"] == []
    issued = await evidence.store.search(AuditQuery(kind="security"))
    tokens = [e.event["action"] for e in issued if e.event["action"].startswith("token.")]
    assert tokens == ["token.issued"]  # other security events (vendor posture changes) may be there too
    by_patient = await evidence.store.search(AuditQuery(patient="pat-canary"))
    assert {e.event["request_id"] for e in by_patient} == {
        search.headers["x-request-id"],
        read.headers["x-request-id"],
    }
    # No token, no clinical value in what is stored.
    stored = str([e.event for e in await evidence.store.search(AuditQuery())])
    assert bearer not in stored and "Canary" not in stored


async def test_refused_token_requests_are_audited_with_the_source_address(stack: Stack) -> None:
    creds = await stack.register("audit-lab", SCOPES)
    form = {"grant_type": "client_credentials", "scope": SCOPES, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": "not-a-jwt"}  # fmt: skip
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=form)
    assert reply.status_code in (400, 401)
    await settle(stack, 2)  # the node's start, then the refusal
    evidence = stack.node.evidence
    assert evidence is not None
    security = await evidence.store.search(AuditQuery(kind="security"))
    [refused] = [e for e in security if str(e.event["action"]).startswith("token.")]
    assert refused.event["action"] == "token.refused" and refused.event["source_ip"] == "127.0.0.1"
    assert "not-a-jwt" not in str(refused.event)


async def test_each_start_records_the_configuration_fingerprint(tmp_path: Path) -> None:
    from fixtures.gateway_stack import running_stack
    from phigate.adapters.sql.audit import AuditQuery

    async with running_stack(tmp_path) as stack:
        evidence = stack.node.evidence
        assert evidence is not None
        started: list[dict[str, object]] = []
        for _ in range(60):
            events = await evidence.store.search(AuditQuery(kind="security"))
            started = [e.event for e in events if e.event["action"] == "node.started"]
            if started:
                break
            await asyncio.sleep(0.1)
    assert started and len(str(started[0]["rules"]["config"])) == 64  # type: ignore[index]
