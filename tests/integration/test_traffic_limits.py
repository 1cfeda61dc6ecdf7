"""The traffic guard in a running gateway (one node, TLS on 127.0.0.1, in-process limits).

Per-client and per-address limits hold; an address outside a client's
allowlist is refused even with a valid token; bypass attempts (path variants,
spoofed X-Forwarded-For, rotating tokens) do not reset a limit; the token
endpoint counts failed client authentications per client and per address.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from fixtures.gateway_stack import Stack, free_port, running_stack
from phigate.adapters.pki import ensure_dev_pki
from phigate.cli.token import client_assertion
from phigate.oauth.jose import generate_key
from phigate.oauth.rfc7523 import ASSERTION_TYPE

READ = "/fhir/Patient/pat-canary"


@asynccontextmanager
async def gateway(
    tmp_path: Path, trusted_proxies: list[str] | None = None, **traffic: Any
) -> AsyncIterator[Stack]:
    extra: dict[str, Any] = {"traffic": traffic}
    if trusted_proxies is not None:
        # The stack's own listeners, plus the loopback peer as a trusted proxy (it plays the load balancer).
        pki = ensure_dev_pki(tmp_path / "pki")
        tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
        port = free_port()
        extra["listeners"] = {
            "public": {"port": port, "tls": tls},
            "admin": {"port": free_port(), "tls": tls},
            "drain_seconds": 1,
            "trusted_proxies": trusted_proxies,
        }
        extra["oauth"] = {"issuer": f"https://127.0.0.1:{port}"}
    async with running_stack(tmp_path, patients=5, **extra) as stack:
        yield stack


def http(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15)


def token_form(creds: dict[str, Any]) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": creds["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
    }


async def token(stack: Stack, creds: dict[str, Any]) -> str:
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=token_form(creds))
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def get(stack: Stack, path: str, access_token: str | None = None, **headers: str) -> httpx.Response:
    if access_token is not None:
        headers["authorization"] = f"Bearer {access_token}"
    async with http(stack) as client:
        return await client.get(stack.public + path, headers=headers)


def assert_throttled(reply: httpx.Response) -> None:
    assert reply.status_code == 429, reply.text
    assert int(reply.headers["retry-after"]) >= 1
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "throttled"


async def test_a_clients_limit_holds_across_path_variants_and_fresh_tokens(tmp_path: Path) -> None:
    async with gateway(tmp_path, clients={"lab-limited": {"rate_limit": "4 requests/minute"}}) as stack:
        creds = await stack.register("lab-limited", "system/Patient.r")
        other = await token(stack, await stack.register("lab-other", "system/Patient.r"))
        access = await token(stack, creds)
        first = await get(stack, READ, access)
        assert first.status_code == 200
        assert first.headers["ratelimit-policy"] == '"client";q=4;w=60'
        assert first.headers["ratelimit"].startswith('"client";r=3;')
        for _ in range(3):
            assert (await get(stack, READ, access)).status_code == 200
        refused = await get(stack, READ, access)
        assert_throttled(refused)
        assert refused.headers["ratelimit"].startswith('"client";r=0;')

        variants = [READ + "/", "/fhir//Patient/pat-canary", "/fhir/patient/pat-canary",
                    "/fhir/%50atient/pat-canary", "/fhir/Patient/pat%2Dcanary",
                    "/fhir/Patient?_id=pat-canary", "/FHIR/Patient/pat-canary",
                    "/fhir/./Patient/pat-canary"]  # fmt: skip
        statuses = {path: (await get(stack, path, access)).status_code for path in variants}
        # Each variant is either refused as malformed before any limit (400, 404) or meets the same limit.
        assert set(statuses.values()) <= {400, 404, 429}, statuses
        assert sum(status == 429 for status in statuses.values()) >= 4, statuses
        rotated = await token(stack, creds)  # a new token of the same client: the same bucket
        assert_throttled(await get(stack, READ, rotated))
        assert (await get(stack, READ, other)).status_code == 200  # another client is not affected


async def test_an_address_outside_the_allowlist_is_refused_with_a_valid_token(tmp_path: Path) -> None:
    clients = {"lab-walled": {"allow_ips": ["203.0.113.0/24"]}, "lab-local": {"allow_ips": ["127.0.0.0/8"]}}
    async with gateway(tmp_path, clients=clients) as stack:
        walled = await token(stack, await stack.register("lab-walled", "system/Patient.r"))
        local = await token(stack, await stack.register("lab-local", "system/Patient.r"))
        refused = await get(stack, READ, walled)
        assert refused.status_code == 403
        assert refused.json()["issue"][0]["code"] == "forbidden"
        # The loopback peer is no trusted proxy here, so a spoofed X-Forwarded-For changes nothing.
        for spoof in ("203.0.113.7", "203.0.113.7, 127.0.0.1", "127.0.0.1, 203.0.113.7"):
            assert (await get(stack, READ, walled, **{"x-forwarded-for": spoof})).status_code == 403
        assert (await get(stack, READ, walled, forwarded="for=203.0.113.7")).status_code == 403
        assert (await get(stack, READ, local)).status_code == 200


async def test_behind_a_trusted_proxy_the_forwarded_address_meets_the_allowlist_and_the_ip_limit(
    tmp_path: Path,
) -> None:
    async with gateway(
        tmp_path,
        trusted_proxies=["127.0.0.1/32"],
        clients={"lab-walled": {"allow_ips": ["203.0.113.0/24", "2001:db8::/32"]}},
        per_ip={"rate_limit": "3 requests/hour"},
    ) as stack:
        walled = await token(stack, await stack.register("lab-walled", "system/Patient.r"))
        assert (await get(stack, READ, walled, **{"x-forwarded-for": "203.0.113.7"})).status_code == 200
        assert (await get(stack, READ, walled, **{"x-forwarded-for": "2001:db8::5"})).status_code == 200
        # Read from the right: what the client wrote itself stands left of the proxy's entry.
        spoofed = await get(stack, READ, walled, **{"x-forwarded-for": "203.0.113.7, 198.51.100.1"})
        assert spoofed.status_code == 403

        # Before authentication: three requests per address, even without a token.
        for _ in range(3):
            assert (
                await get(stack, "/fhir/metadata", **{"x-forwarded-for": "192.0.2.10"})
            ).status_code == 200
        assert_throttled(await get(stack, "/fhir/metadata", **{"x-forwarded-for": "192.0.2.10"}))
        assert_throttled(await get(stack, READ, walled, **{"x-forwarded-for": "198.51.100.9, 192.0.2.10"}))
        assert (await get(stack, "/fhir/metadata", **{"x-forwarded-for": "192.0.2.11"})).status_code == 200


async def test_the_denylist_refuses_an_address_before_anything_else(tmp_path: Path) -> None:
    async with gateway(tmp_path, deny_ips=["127.0.0.0/8"]) as stack:
        creds = await stack.register("lab", "system/Patient.r")
        assert (await get(stack, "/fhir/metadata")).status_code == 403
        async with http(stack) as client:
            assert (await client.post(creds["token_endpoint"], data=token_form(creds))).status_code == 403


async def test_failed_client_authentications_lock_the_token_endpoint_per_client_and_per_address(
    tmp_path: Path,
) -> None:
    token_endpoint = {"failures_per_client": {"rate_limit": "3 requests/hour"},
                      "failures_per_ip": {"rate_limit": "5 requests/hour"}}  # fmt: skip
    async with gateway(tmp_path, token_endpoint=token_endpoint) as stack:
        victim = await stack.register("lab-victim", "system/Patient.r")
        bystander = await stack.register("lab-bystander", "system/Patient.r")
        forged = {**victim, "private_jwk": generate_key("ES384")[0]}

        async def attempt(creds: dict[str, Any]) -> httpx.Response:
            async with http(stack) as client:
                return await client.post(creds["token_endpoint"], data=token_form(creds))

        assert [(await attempt(forged)).status_code for _ in range(3)] == [401, 401, 401]
        locked = await attempt(forged)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60
        assert (await attempt(victim)).status_code == 429  # the right key too, until the budget refills
        assert (await attempt(bystander)).status_code == 200  # another client from the same address

        forged_bystander = {**bystander, "private_jwk": generate_key("ES384")[0]}
        assert [(await attempt(forged_bystander)).status_code for _ in range(2)] == [401, 401]
        started = time.monotonic()
        assert (await attempt(bystander)).status_code == 429  # five failures from this address
        assert time.monotonic() - started < 5
