"""One contract for the vendor and OAuth client registries, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, select

from phigate.adapters.sql import Database, open_database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.schema import VERSION_TABLE, metadata, oauth_clients
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.oauth.jose import generate_client_key
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import (
    AuthMethod,
    ClientStatus,
    OAuthClient,
    TokenBinding,
    hash_client_secret,
    new_client,
    verify_client_secret,
)
from phigate.vendors.records import NotRegistered, RegistrationError, Vendor, VendorStatus, vendor_slug

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
SCOPES = "system/Observation.rs system/Patient.r"
T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
LAB = VendorId("acme-labs")
BILLING = VendorId("billing-co")


@pytest.fixture
async def db(storage_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated database per test, on each backend."""
    database = await open_database(storage_url)
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
async def vendors(db: Database) -> SqlVendorRegistry:
    registry = SqlVendorRegistry(db)
    await registry.add(Vendor(id=LAB, name="Acme Labs", created_at=T0))
    await registry.add(Vendor(id=BILLING, name="Billing Co", created_at=T0))
    return registry


@pytest.fixture
def clients(db: Database, vendors: SqlVendorRegistry) -> SqlClientRegistry:
    return SqlClientRegistry(db)


def _public_jwks(*kids: str) -> dict[str, Any]:
    keys = []
    for kid in kids:
        _, public = generate_client_key("ES384")
        keys.append({**public, "kid": kid})
    return {"keys": keys}


def _client(vendor: VendorId = LAB, name: str = "results feed", **changes: Any) -> OAuthClient:
    arguments: dict[str, Any] = {"jwks": _public_jwks("k1"), "now": T0, **changes}
    return new_client(vendor_id=vendor, name=name, scopes=SCOPES, **arguments)


# --- schema -------------------------------------------------------------------------------------------


def _differences(connection: Connection) -> list[Any]:
    found = compare_metadata(MigrationContext.configure(connection), metadata)
    return [
        d
        for d in found
        if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == VERSION_TABLE)
    ]


async def test_the_migration_creates_exactly_the_tables_the_queries_use(db: Database) -> None:
    await db.migrate()  # idempotent
    await db.check_current()
    async with db.connect() as connection:
        assert await connection.run_sync(_differences) == []


# --- vendors ------------------------------------------------------------------------------------------


async def test_vendors_round_trip_in_id_order(vendors: SqlVendorRegistry) -> None:
    await vendors.add(Vendor(id=VendorId("a-first"), name="  First   Vendor ", created_at=T0))
    assert [v.id for v in await vendors.list()] == ["a-first", "acme-labs", "billing-co"]
    stored = await vendors.get(VendorId("a-first"))
    assert stored == Vendor(id=VendorId("a-first"), name="First Vendor", created_at=T0)
    assert stored is not None and stored.status is VendorStatus.active
    assert await vendors.get(VendorId("nobody")) is None


async def test_a_vendor_id_is_unique(vendors: SqlVendorRegistry) -> None:
    with pytest.raises(RegistrationError, match="vendor_id: 'acme-labs' is already registered"):
        await vendors.add(Vendor(id=LAB, name="Another Acme", created_at=T0))
    assert (await vendors.get(LAB)) == Vendor(id=LAB, name="Acme Labs", created_at=T0)


async def test_a_vendor_that_owns_clients_cannot_be_removed(
    vendors: SqlVendorRegistry, clients: SqlClientRegistry
) -> None:
    client = _client()
    await clients.add(client)
    await clients.disable(client.client_id)  # a disabled client still belongs to its vendor
    with pytest.raises(RegistrationError, match="owns 1 client"):
        await vendors.remove(LAB)
    assert await vendors.get(LAB) is not None
    await vendors.remove(BILLING)
    assert await vendors.get(BILLING) is None
    with pytest.raises(NotRegistered):
        await vendors.remove(BILLING)


def test_vendor_ids_are_readable_slugs_and_bad_ones_are_refused() -> None:
    assert vendor_slug("Acme Labs, Inc.") == "acme-labs-inc"
    assert vendor_slug("Ärzte-Labor Süd") == "arzte-labor-sud"
    for bad in ("Acme", "-acme", "acme-", "ac me", "a" * 65, "acme/../x", ""):
        with pytest.raises(RegistrationError, match="vendor_id"):
            Vendor(id=VendorId(bad), name="x", created_at=T0)
    with pytest.raises(RegistrationError, match="name"):
        Vendor(id=LAB, name=" \t ", created_at=T0)


# --- clients ------------------------------------------------------------------------------------------


async def test_clients_round_trip(clients: SqlClientRegistry) -> None:
    lab = _client()
    bill = _client(BILLING, "claims", token_binding=TokenBinding.dpop)
    uri = _client(BILLING, "remittance", jwks=None, jwks_uri="https://billing.example.com/.well-known/jwks")
    for client in (lab, bill, uri):
        await clients.add(client)

    assert await clients.get(lab.client_id) == lab
    assert await clients.get(uri.client_id) == uri
    assert await clients.get(ClientId("nobody-00000000")) is None
    assert await clients.list() == sorted([lab, bill, uri], key=lambda c: c.client_id)
    assert await clients.list(BILLING) == sorted([bill, uri], key=lambda c: c.client_id)
    assert await clients.list(VendorId("nobody")) == []
    assert lab.client_id.startswith("acme-labs-") and len(lab.client_id) == len("acme-labs-") + 8
    assert lab.auth_method is AuthMethod.private_key_jwt
    assert lab.key_ids == ("k1",)
    assert uri.key_ids == ()


async def test_client_ids_and_names_are_unique_and_the_vendor_must_exist(clients: SqlClientRegistry) -> None:
    first = _client(client_id="lab-feed")
    await clients.add(first)
    with pytest.raises(RegistrationError, match="client_id: 'lab-feed' is already registered"):
        await clients.add(_client(BILLING, "other", client_id="lab-feed"))
    with pytest.raises(RegistrationError, match="already has a client named 'results feed'"):
        await clients.add(_client())
    with pytest.raises(RegistrationError, match="vendor_id: no vendor 'ghost' is registered"):
        await clients.add(_client(VendorId("ghost")))
    await clients.add(_client(BILLING))  # the same name under another vendor is fine
    assert await clients.get(ClientId("lab-feed")) == first
    assert len(await clients.list()) == 2


async def test_set_keys_replaces_or_overlaps_the_keys(clients: SqlClientRegistry) -> None:
    client = _client()
    await clients.add(client)

    rotated = await clients.set_keys(client.client_id, jwks=_public_jwks("k2"))
    assert rotated.key_ids == ("k2",)
    assert rotated.updated_at > client.updated_at
    assert rotated.created_at == client.created_at
    assert await clients.get(client.client_id) == rotated

    overlap = await clients.set_keys(client.client_id, jwks=_public_jwks("k3"), keep_old=True)
    assert overlap.key_ids == ("k3", "k2")
    moved = await clients.set_keys(client.client_id, jwks_uri="https://acme.example.com/jwks.json")
    assert (moved.jwks, moved.jwks_uri) == (None, "https://acme.example.com/jwks.json")
    assert await clients.get(client.client_id) == moved
    with pytest.raises(RegistrationError, match="keep_old"):
        await clients.set_keys(client.client_id, jwks=_public_jwks("k4"), keep_old=True)
    with pytest.raises(NotRegistered):
        await clients.set_keys(ClientId("nobody-00000000"), jwks=_public_jwks("k5"))


async def test_refused_key_changes_leave_the_stored_client_as_it_was(clients: SqlClientRegistry) -> None:
    client = _client()
    await clients.add(client)
    leaked = _public_jwks("k2")
    leaked["keys"][0]["d"] = "c2VjcmV0"
    with pytest.raises(RegistrationError, match="private key member"):
        await clients.set_keys(client.client_id, jwks=leaked)
    with pytest.raises(RegistrationError, match="jwks_uri: must be an https URL"):
        await clients.set_keys(client.client_id, jwks_uri="http://acme.example.com/jwks")
    with pytest.raises(RegistrationError, match=r"oauth\.allow_loopback_jwks"):
        await clients.set_keys(client.client_id, jwks_uri="https://127.0.0.1:9999/jwks")
    with pytest.raises(RegistrationError, match="exactly one of jwks or jwks_uri"):
        await clients.set_keys(client.client_id)
    assert await clients.get(client.client_id) == client
    dev = await clients.set_keys(
        client.client_id, jwks_uri="http://127.0.0.1:9999/jwks", allow_loopback_jwks=True
    )
    assert dev.jwks_uri == "http://127.0.0.1:9999/jwks"


async def test_concurrent_key_changes_lose_no_update(clients: SqlClientRegistry) -> None:
    client = _client(jwks=_public_jwks("k0"))
    await clients.add(client)
    new_keys = [_public_jwks(f"k{i}") for i in range(1, 5)]
    await asyncio.wait_for(
        asyncio.gather(*(clients.set_keys(client.client_id, jwks=k, keep_old=True) for k in new_keys)),
        timeout=30,
    )
    stored = await clients.get(client.client_id)
    assert stored is not None
    assert sorted(stored.key_ids) == ["k0", "k1", "k2", "k3", "k4"]


async def test_disable_and_enable(clients: SqlClientRegistry) -> None:
    client = _client()
    await clients.add(client)
    disabled = await clients.disable(client.client_id)
    assert disabled.status is ClientStatus.disabled and not disabled.active
    assert await clients.get(client.client_id) == disabled
    enabled = await clients.set_status(client.client_id, ClientStatus.active)
    assert (await clients.get(client.client_id)) == enabled
    assert enabled.active
    with pytest.raises(NotRegistered):
        await clients.disable(ClientId("nobody-00000000"))


async def test_a_stored_client_holds_no_private_key_or_secret(
    clients: SqlClientRegistry, db: Database
) -> None:
    private, public = generate_client_key("ES384")
    client = _client(jwks={"keys": [public]})
    await clients.add(client)
    async with db.connect() as connection:
        row = (await connection.execute(select(oauth_clients))).one()
    assert private["d"] not in str(tuple(row))
    assert '"d"' not in row.jwks


# --- rules of a client, whichever store holds it -----------------------------------------------------


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_private_key_members_are_refused(member: str) -> None:
    jwks = _public_jwks("k1")
    jwks["keys"][0][member] = "c2VjcmV0"
    with pytest.raises(RegistrationError, match=f"jwks.keys.0: holds private key member\\(s\\) {member}"):
        _client(jwks=jwks)


def test_keys_must_be_usable_for_smart_backend_services() -> None:
    ok = _public_jwks("k1")["keys"][0]
    weak_rsa = {"kty": "RSA", "kid": "r", "n": base64.urlsafe_b64encode(b"\xff" * 128).decode().rstrip("="),
                "e": "AQAB"}  # fmt: skip
    cases = {
        "needs a kid": {k: v for k, v in ok.items() if k != "kid"},
        "kty must be RSA": {**ok, "kty": "oct"},
        "alg must be ES384": {**ok, "alg": "ES256"},
        "curve P-384": {**ok, "crv": "P-256"},
        "not a P-384 coordinate": {**ok, "x": "AAAA"},
        "use must be sig": {**ok, "use": "enc"},
        "at least 2048 bits": weak_rsa,
    }
    for reason, key in cases.items():
        with pytest.raises(RegistrationError, match=reason):
            _client(jwks={"keys": [key]})
    with pytest.raises(RegistrationError, match="two keys share one kid"):
        _client(jwks={"keys": [ok, ok]})
    not_a_set: list[dict[str, Any]] = [{"keys": []}, {"key": [ok]}, {"keys": [ok] * 11}]
    for jwks in not_a_set:
        with pytest.raises(RegistrationError, match="jwks"):
            _client(jwks=jwks)


def test_a_private_key_jwt_client_has_exactly_one_key_source() -> None:
    with pytest.raises(RegistrationError, match="exactly one of jwks or jwks_uri"):
        _client(jwks=None)
    with pytest.raises(RegistrationError, match="exactly one of jwks or jwks_uri"):
        _client(jwks_uri="https://acme.example.com/jwks")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://acme.example.com/jwks", "must be an https URL"),
        ("ftp://acme.example.com/jwks", "must be an https URL"),
        ("https://user:pw@acme.example.com/jwks", "without credentials"),
        ("/jwks", "absolute https URL"),
        ("https://localhost/jwks", "loopback or private"),
        ("https://10.1.2.3/jwks", "loopback or private"),
        ("https://[::1]/jwks", "loopback or private"),
        ("http://127.0.0.1:8000/jwks", "loopback or private"),
    ],
)
def test_a_jwks_uri_is_https_and_not_local(uri: str, reason: str) -> None:
    with pytest.raises(RegistrationError, match=f"jwks_uri: .*{reason}"):
        _client(jwks=None, jwks_uri=uri)


def test_loopback_jwks_uri_only_when_allowed_for_dev() -> None:
    client = _client(jwks=None, jwks_uri="http://127.0.0.1:8000/jwks", allow_loopback_jwks=True)
    assert client.jwks_uri == "http://127.0.0.1:8000/jwks"
    with pytest.raises(RegistrationError, match="must be an https URL"):
        _client(jwks=None, jwks_uri="http://93.184.216.34/jwks", allow_loopback_jwks=True)


@pytest.mark.parametrize(
    "scopes", ["system/Observation.rs", "patient/*.rs", "user/Patient.r", "openid system/Patient.r"]
)
def test_shared_secrets_are_refused_for_phi_scopes(scopes: str) -> None:
    with pytest.raises(RegistrationError, match="auth_method: client_secret is refused for PHI scopes"):
        new_client(vendor_id=LAB, name="x", scopes=scopes, secret_hash=hash_client_secret("s" * 43), now=T0)


async def test_a_client_secret_client_without_phi_scopes_keeps_only_a_hash(
    clients: SqlClientRegistry, db: Database
) -> None:
    secret = "correct-horse-battery-staple-" + secrets.token_urlsafe(16)
    client = new_client(
        vendor_id=LAB, name="status probe", scopes="openid", secret_hash=hash_client_secret(secret), now=T0
    )
    await clients.add(client)
    stored = await clients.get(client.client_id)
    assert stored == client and stored.auth_method is AuthMethod.client_secret
    assert stored.secret_hash is not None and secret not in stored.secret_hash
    assert verify_client_secret(stored.secret_hash, secret)
    assert not verify_client_secret(stored.secret_hash, secret + "x")
    assert not verify_client_secret("scrypt$99999999$8$1$bad$hash", secret)
    async with db.connect() as connection:
        row = (await connection.execute(select(oauth_clients))).one()
    assert secret not in str(tuple(row))
    assert hash_client_secret(secret) != stored.secret_hash  # salted
    with pytest.raises(RegistrationError, match="only a private_key_jwt client has keys"):
        await clients.set_keys(client.client_id, jwks=_public_jwks("k1"))


def test_malformed_scopes_are_refused_not_dropped() -> None:
    for bad in ("system/Observation.rs bogus/Thing.x", "", "system/Observation.zz"):
        with pytest.raises(RegistrationError, match="scopes"):
            new_client(vendor_id=LAB, name="x", scopes=bad, jwks=_public_jwks("k1"), now=T0)


def test_mtls_binding_needs_the_certificate_thumbprint() -> None:
    thumbprint = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")
    bound = _client(token_binding=TokenBinding.mtls, mtls_thumbprint=thumbprint)
    assert bound.mtls_thumbprint == thumbprint
    with pytest.raises(RegistrationError, match="mtls_thumbprint"):
        _client(token_binding=TokenBinding.mtls)
    with pytest.raises(RegistrationError, match="mtls_thumbprint"):
        _client(token_binding=TokenBinding.mtls, mtls_thumbprint="not-a-thumbprint")
    with pytest.raises(RegistrationError, match="only used with token_binding mtls"):
        _client(mtls_thumbprint=thumbprint)


def test_a_client_value_is_frozen_and_its_keys_are_a_copy() -> None:
    jwks = _public_jwks("k1")
    client = _client(jwks=jwks)
    jwks["keys"][0]["d"] = "c2VjcmV0"  # changing the caller's dict changes nothing registered
    assert client.jwks is not None and "d" not in client.jwks["keys"][0]
    with pytest.raises(AttributeError):
        client.scopes = "system/*.cruds"  # type: ignore[misc]
    later = client.with_status(ClientStatus.disabled, T0 + timedelta(seconds=1))
    assert (client.status, later.status) == (ClientStatus.active, ClientStatus.disabled)
