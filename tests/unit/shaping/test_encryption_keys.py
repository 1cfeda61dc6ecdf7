"""Response encryption keys from the client registry (issue 7): the check, the choice, rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jwcrypto import jwe, jwk

from phigate.oauth.resource import CachedClients
from phigate.pipeline.contracts import ContractEnforcement
from phigate.settings.contracts import ContractsSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import OAuthClient, check_encryption_jwks, new_client
from phigate.vendors.records import RegistrationError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RSA = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-1")
EC = jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-1")
EC_NEXT = jwk.JWK.generate(kty="EC", crv="P-384", kid="ec-2")
CONFIGURED = jwk.JWK.generate(kty="EC", crv="P-256", kid="from-config")
SIGNING = jwk.JWK.generate(kty="EC", crv="P-384", kid="sig-1")


def public(key: jwk.JWK, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(key.export_public())
    return {**document, **extra}


def keyset(*keys: jwk.JWK) -> dict[str, Any]:
    return {"keys": [public(key, use="enc") for key in keys]}


def client(encryption_jwks: dict[str, Any] | None = None) -> OAuthClient:
    return new_client(
        vendor_id=VendorId("acme"), name="feed", scopes="system/Patient.r", now=T0, client_id="acme-feed",
        jwks={"keys": [public(SIGNING, alg="ES384")]}, encryption_jwks=encryption_jwks,
    )  # fmt: skip


def test_a_client_registers_rsa_and_ec_encryption_keys_first_in_use() -> None:
    registered = client(keyset(EC, RSA))
    assert registered.encryption_key_ids == ("ec-1", "rsa-1")
    rotated = registered.with_encryption_keys(T0, keyset(EC_NEXT), keep_old=True)
    assert rotated.encryption_key_ids == ("ec-2", "ec-1", "rsa-1")
    replaced = rotated.with_encryption_keys(T0, keyset(RSA))
    assert replaced.encryption_key_ids == ("rsa-1",)
    assert replaced.with_encryption_keys(T0, None).encryption_jwks is None


@pytest.mark.parametrize(
    ("jwks", "reason"),
    [
        ({"keys": [json.loads(RSA.export_private())]}, "private key member"),
        ({"keys": [public(RSA, use="sig")]}, "use must be enc"),
        ({"keys": [public(RSA, alg="RSA1_5")]}, "alg must be RSA-OAEP-256"),
        ({"keys": [public(EC, alg="ECDH-ES")]}, "alg must be ECDH-ES+A256KW"),
        ({"keys": [{k: v for k, v in public(EC).items() if k != "kid"}]}, "needs a kid"),
        ({"keys": [public(EC), public(EC)]}, "two keys share one kid"),
        ({"keys": [{**public(EC), "crv": "secp256k1"}]}, "P-256, P-384 or P-521"),
        ({"keys": []}, "1 to 10 keys"),
        ([public(EC)], "JSON Web Key Set"),
    ],
)
def test_unusable_encryption_keys_are_refused(jwks: Any, reason: str) -> None:
    with pytest.raises(RegistrationError) as caught:
        check_encryption_jwks(jwks)
    assert reason in str(caught.value)
    with pytest.raises(RegistrationError):
        client(jwks)  # the stored value cannot hold them either


class Registry:
    """The registry's one read the gateway needs, counting reads to show the cache."""

    def __init__(self, found: OAuthClient) -> None:
        self.found = found
        self.reads = 0

    async def get(self, client_id: ClientId) -> OAuthClient | None:
        self.reads += 1
        return self.found if client_id == self.found.client_id else None


def enforcement(registry: Registry, clock: list[float]) -> ContractEnforcement:
    settings = ContractsSettings.model_validate({"clients": {"acme-feed": {
        "resources": {"Patient": {"interactions": ["read"]}},
        "encryption": {"responses": "jwe", "keys": [public(CONFIGURED, use="enc")]},
    }}})  # fmt: skip
    cached = CachedClients(registry, ttl=5.0, clock=lambda: clock[0])  # type: ignore[arg-type]
    return ContractEnforcement.from_settings(settings, cached)


def sealed_to(key: Any, private: jwk.JWK) -> bytes:
    from phigate.oauth.jwe import encrypt_compact

    token = encrypt_compact(b"{}", key).decode()
    opened = jwe.JWE()
    opened.deserialize(token, key=private)
    assert opened.jose_header["kid"] == private.get("kid")
    payload: bytes = opened.payload
    return payload


async def test_the_registered_key_wins_and_a_rotation_is_used_once_the_cache_expires() -> None:
    registry, clock = Registry(client(keyset(EC))), [100.0]
    contracts = enforcement(registry, clock)
    contract = contracts.book.for_client("acme-feed", "acme")
    assert contract is not None
    first = await contracts.encryption_key(contract, "acme-feed")
    assert first is not None and first.kid == "ec-1"  # the registry's key, not the configured one
    assert sealed_to(first, EC) == b"{}"
    registry.found = registry.found.with_encryption_keys(T0, keyset(EC_NEXT), keep_old=True)
    clock[0] += 1.0
    same = await contracts.encryption_key(contract, "acme-feed")
    assert same is not None and same.kid == "ec-1" and registry.reads == 1  # within the ttl: cached
    clock[0] += 5.0
    rotated = await contracts.encryption_key(contract, "acme-feed")
    assert rotated is not None and rotated.kid == "ec-2" and registry.reads == 2
    assert sealed_to(rotated, EC_NEXT) == b"{}"


async def test_without_a_registered_key_the_configured_one_is_used() -> None:
    registry, clock = Registry(client(None)), [0.0]
    contracts = enforcement(registry, clock)
    contract = contracts.book.for_client("acme-feed", "acme")
    assert contract is not None
    key = await contracts.encryption_key(contract, "acme-feed")
    assert key is not None and key.kid == "from-config"


async def test_with_no_key_anywhere_there_is_none() -> None:
    settings = ContractsSettings.model_validate(
        {"clients": {"acme-feed": {"resources": {"Patient": {}}, "encryption": {"responses": "jwe"}}}}
    )
    contracts = ContractEnforcement.from_settings(settings)
    contract = contracts.book.for_client("acme-feed", "acme")
    assert contract is not None and contract.encrypt
    assert await contracts.encryption_key(contract, "acme-feed") is None
