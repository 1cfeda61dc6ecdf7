"""Registering a third party's OAuth client and its keys (used by ``phigate client``, ``phigate user``,
the demo and tests).

A key pair made here has its private half written to a new credentials file readable by its owner only,
and nowhere else. Public keys the third party made are loaded before they are registered, as the token
endpoint (signing keys) and the gateway (encryption keys) will load them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from phigate.adapters.sql import Database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.cli.store import open_keyring
from phigate.cli.vendor_registry import required_vendor
from phigate.errors import ConfigError
from phigate.oauth.endpoints import Endpoints
from phigate.oauth.jose import generate_client_key, import_public_key, jwk_thumbprint
from phigate.oauth.jwe import import_encryption_key
from phigate.settings import ResolvedSettings, Settings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import (
    ASSERTION_ALGORITHMS,
    OAuthClient,
    TokenBinding,
    check_client_id,
    check_encryption_jwks,
    check_jwks,
    generate_client_id,
    generate_client_secret,
    hash_client_secret,
    new_client,
)
from phigate.vendors.grants import check_new_client
from phigate.vendors.records import NotRegistered, RegistrationError


class KeyAlgorithm(StrEnum):
    ES384 = "ES384"
    RS384 = "RS384"


async def register_client(
    db: Database,
    settings: Settings,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    alg: KeyAlgorithm | str,
    credentials_path: Path,
    *,
    client_id: str | None = None,
    token_binding: TokenBinding = TokenBinding.none,
    mtls_thumbprint: str | None = None,
) -> OAuthClient:
    """Register a private_key_jwt client with a key pair made here; write its credentials file.

    ``credentials_path`` is the file to create, or an existing directory in which
    ``<client_id>.json`` is created. The file is new (never overwritten) and mode 0600;
    it is removed again if the registration fails.
    """
    await required_vendor(db, vendor_id)
    chosen = check_client_id(client_id) if client_id is not None else generate_client_id(vendor_id)
    with _credentials_file(_credentials_target(credentials_path, chosen)) as file:
        private_jwk, public_jwk = client_key(KeyAlgorithm(alg))
        client = new_client(
            client_id=chosen,
            vendor_id=vendor_id,
            name=name,
            scopes=scopes,
            jwks={"keys": [public_jwk]},
            token_binding=token_binding,
            mtls_thumbprint=mtls_thumbprint,
            now=datetime.now(UTC),
        )
        await SqlClientRegistry(db).add(client)
        _write(file, credentials(client, settings, private_jwk=private_jwk))
    return client


async def register_client_with_keys(
    db: Database,
    settings: Settings,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    *,
    jwks: Mapping[str, Any] | None = None,
    jwks_uri: str | None = None,
    client_id: str | None = None,
    token_binding: TokenBinding = TokenBinding.none,
    mtls_thumbprint: str | None = None,
) -> OAuthClient:
    """Register a private_key_jwt client whose public keys the third party made (JWKS or JWKS URL)."""
    await required_vendor(db, vendor_id)
    if jwks is not None:
        check_public_keys(jwks)
    client = new_client(
        client_id=client_id,
        vendor_id=vendor_id,
        name=name,
        scopes=scopes,
        jwks=jwks,
        jwks_uri=jwks_uri,
        token_binding=token_binding,
        mtls_thumbprint=mtls_thumbprint,
        allow_loopback_jwks=settings.oauth.allow_loopback_jwks,
        now=datetime.now(UTC),
    )
    await SqlClientRegistry(db).add(client)
    return client


async def register_secret_client(
    db: Database,
    settings: Settings,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    credentials_path: Path,
    *,
    client_id: str | None = None,
) -> OAuthClient:
    """Register a client_secret client (no PHI scopes); the generated secret goes to the credentials file."""
    await required_vendor(db, vendor_id)
    chosen = check_client_id(client_id) if client_id is not None else generate_client_id(vendor_id)
    with _credentials_file(_credentials_target(credentials_path, chosen)) as file:
        secret = generate_client_secret()
        client = new_client(
            client_id=chosen,
            vendor_id=vendor_id,
            name=name,
            scopes=scopes,
            secret_hash=hash_client_secret(secret),
            now=datetime.now(UTC),
        )
        await SqlClientRegistry(db).add(client)
        _write(file, credentials(client, settings, client_secret=secret))
    return client


async def rotate_client_key(
    db: Database,
    settings: Settings,
    client_id: ClientId,
    alg: KeyAlgorithm | str,
    credentials_path: Path,
    *,
    keep_old: bool = False,
) -> OAuthClient:
    """Give a client a new key pair made here; its new credentials file holds the new private key."""
    registry = SqlClientRegistry(db)
    if await registry.get(client_id) is None:
        raise NotRegistered(f"No client '{client_id}' is registered (see `phigate client list`).")
    with _credentials_file(_credentials_target(credentials_path, client_id)) as file:
        private_jwk, public_jwk = client_key(KeyAlgorithm(alg))
        client = await registry.set_keys(client_id, jwks={"keys": [public_jwk]}, keep_old=keep_old)
        _write(file, credentials(client, settings, private_jwk=private_jwk))
    return client


def check_public_keys(jwks: Mapping[str, Any]) -> None:
    """Check ``jwks`` as the domain does, then load each key as the token endpoint will (curve point...)."""
    for index, key in enumerate(check_jwks(jwks)["keys"]):
        try:
            import_public_key(key, algorithms=ASSERTION_ALGORITHMS.values())
        except ValueError as exc:
            raise RegistrationError(f"jwks.keys.{index}", str(exc)) from None


def client_key(alg: KeyAlgorithm) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new key pair whose public half names its key id (the JWK thumbprint), algorithm and use."""
    private_jwk, public_jwk = generate_client_key(alg.value)
    labels = {"kid": public_jwk.get("kid") or jwk_thumbprint(public_jwk), "alg": alg.value, "use": "sig"}
    return {**private_jwk, **labels}, {**public_jwk, **labels}


def credentials(
    client: OAuthClient,
    settings: Settings,
    *,
    private_jwk: Mapping[str, Any] | None = None,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """What a third party's developer needs to get a token: the contents of a credentials file."""
    endpoints = Endpoints.of(settings)
    secret: dict[str, Any] = (
        {"private_jwk": dict(private_jwk)} if private_jwk is not None else {"client_secret": client_secret}
    )
    return {
        "client_id": client.client_id,
        "vendor_id": client.vendor_id,
        **secret,
        "token_endpoint": endpoints.token,
        "fhir_base": endpoints.fhir_bases[0],
        "scopes": client.scopes,
    }


def check_encryption_keys(jwks: Mapping[str, Any]) -> None:
    """Check ``jwks`` as the domain does, then import each key as the gateway will (curve point, size)."""
    for index, key in enumerate(check_encryption_jwks(jwks)["keys"]):
        try:
            import_encryption_key(key)
        except ValueError as exc:
            raise RegistrationError(f"encryption_jwks.keys.{index}", str(exc)) from None


async def admit_new_client(db: Database, resolved: ResolvedSettings, vendor_id: VendorId) -> None:
    """A client added to a vendor, or enabled again, is a new grant: refused (409) while the vendor's
    security review is overdue (A.7) and for ever once it is offboarded (A.11)."""
    keyring = await open_keyring(db, resolved)
    check_new_client(await SqlVendorRisk(db, keyring).dossier(vendor_id), datetime.now(UTC).date())


async def required_client(db: Database, client_id: ClientId) -> OAuthClient:
    client = await SqlClientRegistry(db).get(client_id)
    if client is None:
        raise NotRegistered(f"No client '{client_id}' is registered (see `phigate client list`).")
    return client


def _credentials_target(path: Path, client_id: ClientId) -> Path:
    return path / f"{client_id}.json" if path.is_dir() else path


@contextmanager
def _credentials_file(path: Path) -> Iterator[IO[str]]:
    """A new file only its owner can read, removed again when the block fails."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            problems=[f"credentials file {path} already exists: phigate never overwrites credentials"]
        ) from None
    except OSError as exc:
        raise ConfigError(problems=[f"credentials file {path} cannot be created ({exc.strerror})"]) from None
    file = os.fdopen(descriptor, "w", encoding="utf-8")
    try:
        yield file
    except BaseException:
        file.close()
        path.unlink(missing_ok=True)
        raise
    file.close()


def _write(file: IO[str], payload: Mapping[str, Any]) -> None:
    file.write(json.dumps(payload, indent=2) + "\n")
    file.flush()
    os.fsync(file.fileno())
