"""OAuth clients in the durable store (:class:`phigate.vendors.clients.ClientRegistry`).

Static JWKS and response encryption keys are stored as JSON text (public keys
only: the domain value refuses private members before a row is written).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import oauth_clients, vendors
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import AuthMethod, ClientStatus, OAuthClient, TokenBinding
from phigate.vendors.records import NotRegistered, RegistrationError


class SqlClientRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, client_id: ClientId) -> OAuthClient | None:
        query = select(oauth_clients).where(oauth_clients.c.client_id == client_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else _client(row)

    async def add(self, client: OAuthClient) -> None:
        try:
            async with self._db.begin() as connection:
                await _check_vendor(connection, client.vendor_id)
                await connection.execute(insert(oauth_clients).values(_row(client)))
        except IntegrityError:
            raise await self._conflict(client) from None

    async def list(self, vendor_id: VendorId | None = None) -> builtins.list[OAuthClient]:
        query = select(oauth_clients).order_by(oauth_clients.c.client_id)
        if vendor_id is not None:
            query = query.where(oauth_clients.c.vendor_id == vendor_id)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_client(row) for row in rows]

    async def set_keys(
        self,
        client_id: ClientId,
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
        keep_old: bool = False,
        allow_loopback_jwks: bool = False,
    ) -> OAuthClient:
        async with self._locked(client_id) as (connection, current):
            changed = current.with_keys(
                datetime.now(UTC),
                jwks=jwks,
                jwks_uri=jwks_uri,
                keep_old=keep_old,
                allow_loopback_jwks=allow_loopback_jwks,
            )
            await _update(connection, changed, "jwks", "jwks_uri")
        return changed

    async def set_encryption_keys(
        self, client_id: ClientId, jwks: Mapping[str, Any] | None, *, keep_old: bool = False
    ) -> OAuthClient:
        """Replace (or with ``keep_old``, put in front) the response encryption keys (issue 7)."""
        async with self._locked(client_id) as (connection, current):
            changed = current.with_encryption_keys(datetime.now(UTC), jwks, keep_old=keep_old)
            await _update(connection, changed, "encryption_jwks")
        return changed

    async def set_status(self, client_id: ClientId, status: ClientStatus) -> OAuthClient:
        async with self._locked(client_id) as (connection, current):
            changed = current.with_status(status, datetime.now(UTC))
            await _update(connection, changed, "status")
        return changed

    async def disable(self, client_id: ClientId) -> OAuthClient:
        return await self.set_status(client_id, ClientStatus.disabled)

    @asynccontextmanager
    async def _locked(self, client_id: ClientId) -> AsyncIterator[tuple[AsyncConnection, OAuthClient]]:
        """The client's row, read in a write transaction so that no concurrent change is lost."""
        async with self._db.begin() as connection:
            if self._db.dialect == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading
            query = select(oauth_clients).where(oauth_clients.c.client_id == client_id).with_for_update()
            row = (await connection.execute(query)).one_or_none()
            if row is None:
                raise NotRegistered(f"No client '{client_id}' is registered.")
            yield connection, _client(row)

    async def _conflict(self, client: OAuthClient) -> RegistrationError:
        if await self.get(client.client_id) is not None:
            return RegistrationError("client_id", f"'{client.client_id}' is already registered")
        if not await _vendor_exists(self._db, client.vendor_id):
            return RegistrationError("vendor_id", f"no vendor '{client.vendor_id}' is registered")
        return RegistrationError(
            "name", f"vendor '{client.vendor_id}' already has a client named '{client.name}'"
        )


async def _check_vendor(connection: AsyncConnection, vendor_id: VendorId) -> None:
    # SQLite enforces the foreign key too; this names the problem on every backend.
    found = (await connection.execute(select(vendors.c.id).where(vendors.c.id == vendor_id))).one_or_none()
    if found is None:
        raise RegistrationError("vendor_id", f"no vendor '{vendor_id}' is registered")


async def _vendor_exists(db: Database, vendor_id: VendorId) -> bool:
    async with db.connect() as connection:
        query = select(vendors.c.id).where(vendors.c.id == vendor_id)
        return (await connection.execute(query)).one_or_none() is not None


async def _update(connection: AsyncConnection, client: OAuthClient, *columns: str) -> None:
    row = _row(client)
    values = {name: row[name] for name in (*columns, "updated_at")}
    await connection.execute(
        update(oauth_clients).where(oauth_clients.c.client_id == client.client_id).values(values)
    )


def _row(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "vendor_id": client.vendor_id,
        "name": client.name,
        "scopes": client.scopes,
        "auth_method": client.auth_method.value,
        "jwks": None if client.jwks is None else json.dumps(client.jwks, separators=(",", ":")),
        "jwks_uri": client.jwks_uri,
        "token_binding": client.token_binding.value,
        "mtls_thumbprint": client.mtls_thumbprint,
        "secret_hash": client.secret_hash,
        "status": client.status.value,
        "encryption_jwks": _json(client.encryption_jwks),
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    }


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _client(row: Row[tuple[object, ...]]) -> OAuthClient:
    return OAuthClient(
        client_id=ClientId(row.client_id),
        vendor_id=VendorId(row.vendor_id),
        name=row.name,
        scopes=row.scopes,
        auth_method=AuthMethod(row.auth_method),
        jwks=None if row.jwks is None else json.loads(row.jwks),
        jwks_uri=row.jwks_uri,
        token_binding=TokenBinding(row.token_binding),
        mtls_thumbprint=row.mtls_thumbprint,
        secret_hash=row.secret_hash,
        status=ClientStatus(row.status),
        encryption_jwks=None if row.encryption_jwks is None else json.loads(row.encryption_jwks),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )
