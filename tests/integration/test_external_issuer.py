"""Resource-server mode: tokens of an external OpenID Connect provider, found by discovery and JWKS.

The provider is a real HTTPS server on 127.0.0.1 (discovery document and JWKS)
whose tokens are made the way Keycloak makes them (RS256, ``typ: JWT``,
``azp`` naming the client, several audiences).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from fixtures.gateway_stack import Stack, free_port, running_stack
from phigate.adapters.pki import ensure_dev_pki
from phigate.oauth.jose import generate_key, sign_jwt

AUDIENCE = "phigate-api"
KEYS = web.AppKey("keys", dict)


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    pki = ensure_dev_pki(tmp_path / "pki")
    private, public = generate_key("RS256")
    port = free_port()
    issuer = f"https://127.0.0.1:{port}/realms/hospital"

    async def discovery(_: web.Request) -> web.Response:
        return web.json_response({"issuer": issuer, "jwks_uri": issuer + "/certs"})

    async def certs(_: web.Request) -> web.Response:
        return web.json_response({"keys": [public]})

    app = web.Application()
    app.router.add_get("/realms/hospital/.well-known/openid-configuration", discovery)
    app.router.add_get("/realms/hospital/certs", certs)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    yield issuer, private
    await runner.cleanup()


@pytest.fixture
async def stack(tmp_path: Path, provider: tuple[str, dict[str, Any]]) -> AsyncIterator[Stack]:
    issuer, _ = provider
    external = {
        "issuer": issuer,
        "audience": AUDIENCE,
        "algorithms": ["RS256"],
        "client_claim": "azp",
        "clients": {"keycloak-lab": "ext-lab"},
    }
    oauth = {"allow_loopback_jwks": True, "fetch_ca_file": str(tmp_path / "pki" / "ca.crt")}
    async with running_stack(
        tmp_path, environment="dev", oauth=oauth, external_issuers=[external]
    ) as running:
        await running.register("ext-lab", "system/Patient.r")
        yield running


def provider_token(issuer: str, key: dict[str, Any], **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": [AUDIENCE, "account"], "azp": "keycloak-lab", "scope": "system/Patient.r",
              "iat": now, "exp": now + 300, "jti": f"kc-{now}-{id(changes)}"}  # fmt: skip
    claims.update(changes)
    return sign_jwt({k: v for k, v in claims.items() if v is not None}, key, typ="JWT")


async def read(stack: Stack, token: str) -> httpx.Response:
    verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
    async with httpx.AsyncClient(verify=verify, timeout=15) as http:
        return await http.get(
            stack.public + "/fhir/Patient/pat-canary", headers={"authorization": f"Bearer {token}"}
        )


async def test_a_provider_token_is_accepted_and_mapped_to_a_phigate_client(
    stack: Stack, provider: tuple[str, dict[str, Any]]
) -> None:
    issuer, key = provider
    reply = await read(stack, provider_token(issuer, key))
    assert reply.status_code == 200, reply.text
    search = await read(stack, provider_token(issuer, key, scope="system/Observation.rs"))
    assert search.status_code == 403  # its scopes are enforced like our own


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "keycloak-lab"}, "an ID token: its audience is the client"),
        ({"aud": "other-api"}, "a token for another API"),
        ({"azp": "unmapped-client"}, "a client the gateway does not map"),
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"iss": "https://evil.example/realms/hospital"}, "another issuer"),
    ],
)
async def test_provider_tokens_outside_the_contract_are_refused(
    stack: Stack, provider: tuple[str, dict[str, Any]], changes: dict[str, Any], why: str
) -> None:
    issuer, key = provider
    assert (await read(stack, provider_token(issuer, key, **changes))).status_code == 401, why


async def test_a_token_signed_by_another_key_under_the_providers_kid_is_refused(
    stack: Stack, provider: tuple[str, dict[str, Any]]
) -> None:
    issuer, key = provider
    forger, _ = generate_key("RS256")
    forger["kid"] = key["kid"]
    assert (await read(stack, provider_token(issuer, forger))).status_code == 401
