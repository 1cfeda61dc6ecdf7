"""The malicious corpus through a running gateway: every request refused, none reaches the upstream.

Each request is written on a raw TLS connection exactly as the corpus gives it
(smuggling-shaped headers included), with a valid token whose scopes allow
everything, so only input validation stands between the attack and the EHR.
A counter in front of the demo EHR proves nothing got through.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.gateway_stack import Stack, running_stack
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "malicious"
# On the wire these four are ordinary requests: the HTTP/1.1 parser trims optional white space
# around a field value, compares transfer-coding names case-insensitively, splits a field at its
# first colon, and a CR LF inside a value simply starts the next field (RFC 9110 5.5, 7.8; RFC 9112
# 5). They are refused where a raw header list is given (test_validation_corpus.py); written to a
# socket they are indistinguishable from valid requests.
WIRE_NORMALISED = {
    "header-te-obfuscated-space",
    "header-te-obfuscated-case",
    "header-header-name-colon",
    "header-header-crlf",
}
CASES = [
    (group["class"], request)
    for path in sorted(CORPUS.glob("*.json"))
    for group in [json.loads(path.read_text(encoding="utf-8"))]
    for request in group["requests"]
    if request["name"] not in WIRE_NORMALISED
]


class CountingApp:
    """Counts the requests that reach the wrapped upstream (health checks aside)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].endswith("/metadata"):
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Stack, CountingApp, str]]:
    import fixtures.gateway_stack as gateway_stack

    counters: list[CountingApp] = []
    original = gateway_stack.create_ehr_app

    def counted(*args: Any, **kwargs: Any) -> CountingApp:
        counters.append(CountingApp(original(*args, **kwargs)))
        return counters[-1]

    monkeypatch.setattr(gateway_stack, "create_ehr_app", counted)
    validation = {"includes": ["Observation:subject", "Observation:patient"]}
    async with running_stack(tmp_path, validation=validation) as running:
        creds = await running.register("wide-open", "system/*.cruds")
        assertion = client_assertion(creds)
        form = {"grant_type": "client_credentials", "scope": "system/*.cruds",
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}  # fmt: skip
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=running.pki.ca_cert)) as http:
            token = (await http.post(creds["token_endpoint"], data=form)).json()["access_token"]
        yield running, counters[0], token


def body_of(request: dict[str, Any]) -> bytes:
    if "body_b64" in request:
        return base64.b64decode(request["body_b64"])
    body: str = request["body"]
    if "pad" in request:
        body = body.replace("{pad}", "a" * request["pad"])
    return body.encode("utf-8")


async def send_raw(stack: Stack, token: str, request: dict[str, Any]) -> int | None:
    """Write the request as given; the status code, or None when the server closed without one."""
    host, port = stack.public.removeprefix("https://").split(":")
    target = request["path"] + (f"?{request['query']}" if request["query"] else "")
    body = body_of(request)
    names = {name.lower() for name, _ in request["headers"]}
    lines = [
        f"{request['method']} {target} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Authorization: Bearer {token}",
    ]
    lines += [f"{name}: {value}" for name, value in request["headers"]]
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    context = ssl.create_default_context(cafile=stack.pki.ca_cert)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


async def test_every_malicious_request_is_refused_before_the_upstream(
    stack: tuple[Stack, CountingApp, str],
) -> None:
    running, upstream, token = stack
    accepted, leaked = [], []
    for cls, request in CASES:
        before = len(upstream.seen)
        status = await send_raw(running, token, request)
        if status is not None and status < 400:
            accepted.append(f"{cls}/{request['name']}: {status}")
        if len(upstream.seen) > before:
            leaked.append(f"{cls}/{request['name']}")
    print(f"\nmalicious corpus through the gateway: {len(CASES)} requests, {len(accepted)} accepted")
    assert len(CASES) >= 200
    assert accepted == []
    assert leaked == []
    metrics = running.node.metrics.render().decode()
    assert 'phigate_input_issues_total{blocking="yes",rule="sql.tautology"}' in metrics


async def test_valid_requests_still_reach_the_upstream(stack: tuple[Stack, CountingApp, str]) -> None:
    running, upstream, token = stack
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": "Patient/pat-canary"},
        "valueQuantity": {
            "value": 5.4,
            "unit": "mmol/L",
            "system": "http://unitsofmeasure.org",
            "code": "mmol/L",
        },
    }
    headers = {"authorization": f"Bearer {token}", "content-type": "application/fhir+json"}
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=running.pki.ca_cert)) as http:
        created = await http.post(running.public + "/fhir/Observation", json=observation, headers=headers)
        search = await http.get(
            running.public + "/fhir/Observation",
            params={
                "patient": "pat-canary",
                "code": "http://loinc.org|2339-0",
                "_include": "Observation:subject",
            },
            headers=headers,
        )
        unknown = await http.get(running.public + "/fhir/Observation?not-a-param=1", headers=headers)
        invalid = await http.post(
            running.public + "/fhir/Observation",
            json={"resourceType": "Observation", "status": "final", "valueString": 1, "foo": 2},
            headers=headers,
        )
        lenient = await http.get(
            running.public + "/fhir/Observation?patient=pat-canary&not-a-param=1",
            headers={**headers, "prefer": "handling=lenient"},
        )
    assert created.status_code == 201, created.text
    assert search.status_code == 200, search.text
    assert unknown.status_code == 400 and "not-a-param" in unknown.text
    assert lenient.status_code == 200
    assert invalid.status_code == 422
    issues = invalid.json()["issue"]  # one issue per problem, each with its FHIRPath and never the value
    assert {tuple(issue["expression"]) for issue in issues} == {
        ("Observation.valueString",),
        ("Observation.foo",),
        ("Observation.code",),
    }
    assert "POST /fhir/Observation" in upstream.seen
