"""EHR launch contexts in the durable store; the patient and encounter sealed by the keyring."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Row, delete, insert, select, update

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import people_launches as table
from phigate.people.launches import LaunchContext
from phigate.ports import DataCipher


def _context(launch_hash: str) -> bytes:
    return f"people_launches:context:{launch_hash}".encode()


class SqlLaunches:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def add(self, context: LaunchContext) -> None:
        document = orjson.dumps({"patient": context.patient, "encounter": context.encounter})
        values = {
            "launch_hash": context.launch_hash,
            "client_id": context.client_id,
            "context": await self._cipher.encrypt(document, _context(context.launch_hash)),
            "user_id": context.user_id,
            "created_at": context.created_at,
            "expires_at": context.expires_at,
        }
        async with self._db.begin() as connection:
            await connection.execute(insert(table).values(values))

    async def get(self, launch_hash: str) -> LaunchContext | None:
        query = select(table).where(table.c.launch_hash == launch_hash, table.c.used_at.is_(None))
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else await self._context(row)

    async def consume(self, launch_hash: str, now: float) -> bool:
        # One conditional update: two nodes completing the same launch at once, one wins.
        query = (
            update(table)
            .where(table.c.launch_hash == launch_hash, table.c.used_at.is_(None), table.c.expires_at > now)
            .values(used_at=now)
        )
        async with self._db.begin() as connection:
            return bool((await connection.execute(query)).rowcount)

    async def purge(self, now: float) -> int:
        async with self._db.begin() as connection:
            return int((await connection.execute(delete(table).where(table.c.expires_at <= now))).rowcount)

    async def _context(self, row: Row[Any]) -> LaunchContext:
        document = orjson.loads(await self._cipher.decrypt(row.context, _context(row.launch_hash)))
        return LaunchContext(
            launch_hash=row.launch_hash,
            client_id=row.client_id,
            patient=document["patient"],
            created_at=row.created_at,
            expires_at=row.expires_at,
            encounter=document.get("encounter"),
            user_id=row.user_id,
        )
