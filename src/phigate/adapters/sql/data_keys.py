"""Wrapped data keys in the durable store (:class:`phigate.ports.DataKeyStore`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import data_key_wraps, data_keys
from phigate.errors import KeyStoreError
from phigate.ports import DataKeyRecord


class SqlDataKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def data_keys(self) -> list[DataKeyRecord]:
        query = (
            select(data_keys, data_key_wraps.c.kek_id, data_key_wraps.c.wrapped)
            .join(data_key_wraps, data_key_wraps.c.data_key_id == data_keys.c.id, isouter=True)
            .order_by(data_keys.c.generation, data_key_wraps.c.kek_id)
        )
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return _records(rows)

    async def data_key(self, data_key_id: str) -> DataKeyRecord | None:
        query = (
            select(data_keys, data_key_wraps.c.kek_id, data_key_wraps.c.wrapped)
            .join(data_key_wraps, data_key_wraps.c.data_key_id == data_keys.c.id, isouter=True)
            .where(data_keys.c.id == data_key_id)
        )
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        records = _records(rows)
        return records[0] if records else None

    async def add_data_key(self, record: DataKeyRecord) -> bool:
        try:
            async with self._db.begin() as connection:
                await connection.execute(
                    insert(data_keys).values(
                        id=record.id, generation=record.generation, created_at=record.created_at
                    )
                )
                await connection.execute(insert(data_key_wraps), _wrap_rows(record.id, record.wraps))
        except IntegrityError:
            return False
        return True

    async def add_wraps(self, kek_id: str, wraps: Mapping[str, bytes]) -> int:
        async with self._db.begin() as connection:
            existing = set(
                (
                    await connection.execute(
                        select(data_key_wraps.c.data_key_id).where(data_key_wraps.c.kek_id == kek_id)
                    )
                ).scalars()
            )
            now = datetime.now(UTC)
            rows = [
                {"data_key_id": dk, "kek_id": kek_id, "wrapped": wrapped, "created_at": now}
                for dk, wrapped in wraps.items()
                if dk not in existing
            ]
            if rows:
                await connection.execute(insert(data_key_wraps), rows)
        return len(rows)

    async def remove_wraps(self, kek_id: str) -> int:
        others = data_key_wraps.alias("others")
        # Data keys wrapped by kek_id and by nothing else: removing the wrap would lose them.
        stranded = (
            select(func.count())
            .select_from(data_key_wraps)
            .where(data_key_wraps.c.kek_id == kek_id)
            .where(
                ~select(others.c.kek_id)
                .where(others.c.data_key_id == data_key_wraps.c.data_key_id)
                .where(others.c.kek_id != kek_id)
                .exists()
            )
        )
        async with self._db.begin() as connection:
            if (await connection.execute(stranded)).scalar_one():
                raise KeyStoreError(
                    f"Refusing to retire {kek_id}: some data keys are wrapped by it alone. "
                    "Run `phigate keys rotate` with the new master key first."
                )
            result = await connection.execute(delete(data_key_wraps).where(data_key_wraps.c.kek_id == kek_id))
        return int(result.rowcount)


def _wrap_rows(data_key_id: str, wraps: Mapping[str, bytes]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {"data_key_id": data_key_id, "kek_id": kek_id, "wrapped": wrapped, "created_at": now}
        for kek_id, wrapped in wraps.items()
    ]


def _records(rows: Iterable[Any]) -> list[DataKeyRecord]:
    """Fold the joined rows (one per wrap) into one record per data key, keeping their order."""
    found: dict[str, tuple[Any, dict[str, bytes]]] = {}
    for row in rows:
        _, wraps = found.setdefault(row.id, (row, {}))
        if row.kek_id is not None:
            wraps[row.kek_id] = bytes(row.wrapped)
    return [
        DataKeyRecord(row.id, row.generation, as_utc(row.created_at), wraps) for row, wraps in found.values()
    ]

