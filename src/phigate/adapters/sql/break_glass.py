"""Emergency access records in the durable store; reasons and review notes sealed by the keyring."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Row, insert, select, update

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import people_break_glass as table
from phigate.people.break_glass import BreakGlass, ReviewStatus
from phigate.ports import DataCipher


def _context(record_id: str, column: str) -> bytes:
    return f"people_break_glass:{column}:{record_id}".encode()


class SqlBreakGlass:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def add(self, record: BreakGlass) -> None:
        reason = await self._cipher.encrypt(record.reason.encode(), _context(record.record_id, "reason"))
        values = {
            "record_id": record.record_id,
            "user_id": record.user_id,
            "client_id": record.client_id,
            "scope": record.scope,
            "reason": reason,
            "started_at": record.started_at,
            "expires_at": record.expires_at,
            "status": record.status.value,
        }
        async with self._db.begin() as connection:
            await connection.execute(insert(table).values(values))

    async def get(self, record_id: str) -> BreakGlass | None:
        async with self._db.connect() as connection:
            row = (await connection.execute(select(table).where(table.c.record_id == record_id))).first()
        return None if row is None else await self._record(row)

    async def list(self, *, open_only: bool = True) -> builtins.list[BreakGlass]:
        query = select(table).order_by(table.c.started_at, table.c.record_id)
        if open_only:
            query = query.where(table.c.status == ReviewStatus.open.value)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [await self._record(row) for row in rows]

    async def close(self, record_id: str, officer_id: str, note: str, now: float) -> BreakGlass | None:
        sealed = await self._cipher.encrypt(note.encode(), _context(record_id, "note"))
        change: dict[str, Any] = {"status": ReviewStatus.closed.value, "closed_by": officer_id,
                                  "closed_at": now, "note": sealed}  # fmt: skip
        # One conditional update: two officers closing at once, one wins and the other is told.
        query = update(table).where(table.c.record_id == record_id,
                                    table.c.status == ReviewStatus.open.value).values(change)  # fmt: skip
        async with self._db.begin() as connection:
            closed = (await connection.execute(query)).rowcount
        return await self.get(record_id) if closed else None

    async def _record(self, row: Row[Any]) -> BreakGlass:
        record_id = row.record_id
        reason = await self._cipher.decrypt(row.reason, _context(record_id, "reason"))
        note = await self._cipher.decrypt(row.note, _context(record_id, "note")) if row.note else None
        return BreakGlass(
            record_id=record_id,
            user_id=row.user_id,
            client_id=row.client_id,
            scope=row.scope,
            reason=reason.decode(),
            started_at=row.started_at,
            expires_at=row.expires_at,
            status=ReviewStatus(row.status),
            closed_by=row.closed_by,
            closed_at=row.closed_at,
            note=note.decode() if note is not None else None,
        )
