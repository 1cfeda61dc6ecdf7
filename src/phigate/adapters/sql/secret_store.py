"""Named secrets encrypted at rest (:class:`phigate.ports.SecretStore`)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import secrets
from phigate.ports import DataCipher

_PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_NAME_MAX = 200


def secret_context(name: str, purpose: str) -> bytes:
    """The associated data of one secret: a value sealed for one name and purpose opens for no other."""
    return json.dumps(["secrets", purpose, name], separators=(",", ":")).encode("utf-8")


class SqlSecretStore:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def put(self, name: str, value: bytes, *, purpose: str) -> None:
        _check(name, purpose)
        blob = await self._cipher.encrypt(value, secret_context(name, purpose))
        now = datetime.now(UTC)
        insert = postgresql_insert if self._db.dialect == "postgresql" else sqlite_insert
        changes = {"purpose": purpose, "ciphertext": blob, "data_key_id": self._cipher.data_key_id(blob)}
        statement = insert(secrets).values(name=name, created_at=now, updated_at=now, **changes)
        statement = statement.on_conflict_do_update(
            index_elements=[secrets.c.name], set_={**changes, "updated_at": now}
        )
        async with self._db.begin() as connection:
            await connection.execute(statement)

    async def get(self, name: str) -> bytes | None:
        query = select(secrets.c.purpose, secrets.c.ciphertext).where(secrets.c.name == name)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return await self._cipher.decrypt(bytes(row.ciphertext), secret_context(name, row.purpose))

    async def delete(self, name: str) -> bool:
        async with self._db.begin() as connection:
            result = await connection.execute(delete(secrets).where(secrets.c.name == name))
        return bool(result.rowcount)

    async def names(self, purpose: str | None = None) -> list[str]:
        query = select(secrets.c.name).order_by(secrets.c.name)
        if purpose is not None:
            query = query.where(secrets.c.purpose == purpose)
        async with self._db.connect() as connection:
            return list((await connection.execute(query)).scalars())


def _check(name: str, purpose: str) -> None:
    if not name or len(name) > _NAME_MAX:
        raise ValueError(f"a secret name has 1 to {_NAME_MAX} characters")
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError("a secret purpose is a short lower-case word such as 'client-secret'")
