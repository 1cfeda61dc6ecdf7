"""Response encryption keys from the client registry, rotation across nodes, sealed elements (issue 7).

Two gateway nodes share one store. A client registers its encryption key in the
registry (no key in the config); every node encrypts to it, names it by kid,
and after a rotation every node encrypts to the new key within the cache ttl.
jwcrypto, an implementation phigate does not use, decrypts.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwe as jwcrypto_jwe
from jwcrypto import jwk as jwcrypto_jwk

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.shaping.masking import ENCRYPTED_ELEMENT_URL
from phigate.types import ClientId

FIRST = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256", kid="enc-2026-01")
SECOND = jwcrypto_jwk.JWK.generate(kty="RSA", size=2048, kid="enc-2026-07")
CONFIGURED = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256", kid="configured")
TTL = 0.3  # the nodes' client cache, shortened so a rotation shows within a bounded wait
CONTRACTS = {
    "clients": {
        "whole": {"resources": {"Patient": {"interactions": ["read"]}}, "encryption": {"responses": "jwe"}},
        "both": {
            "resources": {"Patient": {"interactions": ["read"]}},
            "encryption": {
                "responses": "jwe",
                "keys": [{**json.loads(CONFIGURED.export_public()), "use": "enc"}],
            },
        },
        "sealed": {
            "resources": {"Patient": {"interactions": ["read"]}},
            "masking": {
                "rules": [
                    {"path": "Patient.birthDate", "method": "encrypt"},
                    {"path": "Patient.identifier", "method": "encrypt"},
                ]
            },
        },
    }
}


def keyset(*keys: jwcrypto_jwk.JWK) -> dict[str, Any]:
    return {"keys": [{**json.loads(key.export_public()), "use": "enc"} for key in keys]}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, nodes=2, contracts=CONTRACTS) as running:
        for node in running.nodes:
            assert node.contracts is not None and node.contracts.clients is not None
            node.contracts.clients.ttl = TTL
        yield running


async def access_token(stack: Stack, client_id: str) -> str:
    creds = await stack.register(client_id, "system/Patient.r")
    form = {
        "grant_type": "client_credentials",
        "scope": creds["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
    }
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=form)
    assert reply.status_code == 200, reply.text
    access: str = reply.json()["access_token"]
    return access


def http(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15)


async def read_canary(stack: Stack, access: str, public: str) -> httpx.Response:
    async with http(stack) as client:
        return await client.get(
            public + "/fhir/Patient/pat-canary", headers={"authorization": f"Bearer {access}"}
        )


def opened(text: str, key: jwcrypto_jwk.JWK) -> jwcrypto_jwe.JWE:
    token = jwcrypto_jwe.JWE()
    token.deserialize(text, key=key)
    return token


async def kid_on(stack: Stack, access: str, public: str) -> str:
    reply = await read_canary(stack, access, public)
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/jose"
    header = json.loads(jwcrypto_jwe.JWE.from_jose_token(reply.text).objects["protected"])
    kid: str = header["kid"]
    return kid


async def test_every_node_encrypts_to_the_registered_key_and_moves_to_a_rotated_one(stack: Stack) -> None:
    access = await access_token(stack, "whole")
    registry = SqlClientRegistry(stack.node.services.db)
    await registry.set_encryption_keys(ClientId("whole"), keyset(FIRST))
    await asyncio.sleep(TTL)  # the registration read the client before its key existed
    for public in stack.publics:
        reply = await read_canary(stack, access, public)
        assert reply.status_code == 200 and b"Canary" not in reply.content
        token = opened(reply.text, FIRST)
        assert token.jose_header["kid"] == "enc-2026-01" and token.jose_header["alg"] == "ECDH-ES+A256KW"
        assert json.loads(token.payload)["name"][0]["given"] == ["Canary"]

    await registry.set_encryption_keys(ClientId("whole"), keyset(SECOND), keep_old=True)
    for public in stack.publics:  # no restart: each node reads the new key once its cache entry expires
        for _ in range(50):
            if await kid_on(stack, access, public) == "enc-2026-07":
                break
            await asyncio.sleep(TTL / 3)
        else:
            pytest.fail("a node kept encrypting to the old key")
        reply = await read_canary(stack, access, public)
        token = opened(reply.text, SECOND)
        assert token.jose_header["alg"] == "RSA-OAEP-256"
        assert json.loads(token.payload)["id"] == "pat-canary"
        with pytest.raises(jwcrypto_jwe.InvalidJWEData):
            opened(reply.text, FIRST)  # the old key no longer opens what is sent


async def test_the_registered_key_wins_over_the_configured_one_and_no_key_refuses(stack: Stack) -> None:
    access = await access_token(stack, "both")
    assert await kid_on(stack, access, stack.public) == "configured"  # nothing registered yet
    await SqlClientRegistry(stack.node.services.db).set_encryption_keys(ClientId("both"), keyset(FIRST))
    await asyncio.sleep(TTL)
    assert await kid_on(stack, access, stack.public) == "enc-2026-01"

    unkeyed = await access_token(stack, "whole")
    reply = await read_canary(stack, unkeyed, stack.public)
    assert reply.status_code == 403 and b"Canary" not in reply.content
    assert "no encryption key is registered" in reply.text


async def test_sealed_elements_arrive_as_jwe_the_client_finds_by_meta_extension(stack: Stack) -> None:
    access = await access_token(stack, "sealed")
    await SqlClientRegistry(stack.node.services.db).set_encryption_keys(ClientId("sealed"), keyset(SECOND))
    await asyncio.sleep(TTL)
    reply = await read_canary(stack, access, stack.public)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/fhir+json")
    patient = reply.json()
    assert patient["name"][0]["given"] == ["Canary"]  # only the named elements are sealed
    locations = [e["valueString"] for e in patient["meta"]["extension"] if e["url"] == ENCRYPTED_ELEMENT_URL]
    assert "birthDate" in locations and any(loc.startswith("identifier.") for loc in locations)
    for location in locations:
        node: Any = patient
        for step in location.split("."):
            node = node[int(step)] if isinstance(node, list) else node[step]
        assert isinstance(node, str) and node.count(".") == 4
        token = opened(node, SECOND)
        assert token.jose_header["kid"] == "enc-2026-07"
        value = json.loads(token.payload)
        if location == "birthDate":
            assert isinstance(value, str) and len(value) == 10
        else:
            assert isinstance(value, dict) and "value" in value  # a whole Identifier
