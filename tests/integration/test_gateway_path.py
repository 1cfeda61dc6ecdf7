"""The request path end to end: a real gateway node over TLS in front of the demo EHR over TLS."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fixtures.gateway_stack import Stack, running_stack

DATA_REQUESTS = [
    ("GET", "/fhir/Patient/p-0001", None),
    ("GET", "/fhir/Observation?patient=p-0001&category=laboratory", None),
    ("GET", "/fhir/Patient/p-0001/Observation", None),
    ("GET", "/fhir/Patient/p-0001/$everything", None),
    ("GET", "/fhir/Patient/p-0001/_history", None),
    ("POST", "/fhir/Patient", b'{"resourceType":"Patient"}'),
    ("PUT", "/fhir/Patient/p-0001", b'{"resourceType":"Patient","id":"p-0001"}'),
    ("DELETE", "/fhir/Patient/p-0001", None),
    ("POST", "/fhir", b'{"resourceType":"Bundle","type":"transaction"}'),
    ("POST", "/fhir/Observation/_search", b"patient=p-0001"),
    ("GET", "/fhir/$export", None),
]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as running:
        yield running


def client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=10)


async def test_capability_statement_is_public_and_comes_from_the_upstream(stack: Stack) -> None:
    async with client(stack) as http:
        reply = await http.get(stack.public + "/fhir/metadata", headers={"x-request-id": "trace-12345678"})
    assert reply.status_code == 200
    assert reply.json()["resourceType"] == "CapabilityStatement"
    security = reply.json()["rest"][0]["security"]  # the gateway names its own OAuth endpoints (SMART)
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["token"] == stack.node.endpoints.token
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert reply.headers["content-type"].startswith("application/fhir+json")
    assert reply.headers["x-request-id"] == "trace-12345678"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["strict-transport-security"].startswith("max-age=")
    assert "server" not in reply.headers


@pytest.mark.parametrize(("method", "path", "body"), DATA_REQUESTS)
async def test_every_data_request_without_a_token_is_denied(
    stack: Stack, method: str, path: str, body: bytes | None
) -> None:
    headers = {"content-type": "application/fhir+json"}
    if path.endswith("_search"):
        headers["content-type"] = "application/x-www-form-urlencoded"
    async with client(stack) as http:
        reply = await http.request(method, stack.public + path, content=body, headers=headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"


async def test_a_token_does_not_open_anything_until_identity_exists(stack: Stack) -> None:
    async with client(stack) as http:
        reply = await http.get(stack.public + "/fhir/Patient", headers={"authorization": "Bearer anything"})
    assert reply.status_code == 401


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/fhir/NotAResource", 404, "not-found"),
        ("/fhir/Patient/p-0001/NotAResource", 404, "not-found"),
        ("/fhir/Patient/bad%2Fid", 400, "security"),  # an encoded slash: refused before routing
        ("/fhir/Patient/a%00b", 400, "security"),
        ("/fhir/Patient/%2e%2e/x", 400, "security"),
        ("/fhir/patient", 400, "security"),  # mixed-case type: refused, never normalised
        ("/elsewhere", 404, "not-found"),
    ],
)
async def test_unknown_or_malformed_paths_get_a_clear_outcome(
    stack: Stack, path: str, status: int, code: str
) -> None:
    async with client(stack) as http:
        reply = await http.get(stack.public + path)
    assert reply.status_code == status
    assert reply.json()["issue"][0]["code"] == code


async def test_a_method_the_path_does_not_support_is_405(stack: Stack) -> None:
    async with client(stack) as http:
        reply = await http.request("PATCH", stack.public + "/fhir/Patient")
    assert reply.status_code == 405


async def test_an_oversized_body_is_refused_before_anything_else(stack: Stack) -> None:
    async with client(stack) as http:
        reply = await http.post(stack.public + "/fhir/Patient", content=b"x" * (11 * 1024 * 1024))
    assert reply.status_code == 413
    assert reply.json()["issue"][0]["code"] == "too-costly"


async def test_admin_listener_serves_metrics_and_readiness(stack: Stack) -> None:
    async with client(stack) as http:
        await http.get(stack.public + "/fhir/metadata")
        await http.get(stack.public + "/fhir/Patient")
        metrics = (await http.get(stack.admin + "/metrics")).text
        ready = await http.get(stack.admin + "/readyz")
    assert 'phigate_exchanges_total{interaction="capabilities",route="/fhir",status="200"} 1.0' in metrics
    assert 'phigate_exchanges_total{interaction="search",route="/fhir",status="401"} 1.0' in metrics
    assert 'phigate_denials_total{code="login"} 1.0' in metrics
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert "127.0.0.1" not in ready.text  # target addresses are not published


async def test_plain_http_is_not_served_on_the_tls_listener(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get(stack.public.replace("https://", "http://") + "/fhir/metadata")
