"""The reminders and overdue alerts already sent (``vendor_notices``), shared by every node and the CLI.

A sender first *claims* a notice: one atomic statement inserts its key, or
(for a notice that repeats) moves its ``sent_at`` forward if the last sending is
older than the repeat interval. Exactly one claimant wins, whichever node or
process it is; the others see the notice as sent. A sender whose alert could
not go out *releases* its claim, so the next run tries again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import vendor_notices
from phigate.types import VendorId
from phigate.vendors.reminders import Notice, NoticeKind, SentNotice


class SqlVendorNotices:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, notice: Notice, now: datetime, repeat_after: timedelta) -> bool:
        """Whether this caller is the one to send ``notice`` now."""
        insert = postgresql_insert if self._db.dialect == "postgresql" else sqlite_insert
        values: dict[str, Any] = {
            "key": notice.key[:300], "vendor_id": notice.vendor_id, "kind": notice.kind.value,
            "detail": notice.text, "sent_at": now,
        }  # fmt: skip
        fresh = insert(vendor_notices).values(values).on_conflict_do_nothing(index_elements=["key"])
        async with self._db.begin() as connection:
            if (await connection.execute(fresh.returning(vendor_notices.c.key))).first() is not None:
                return True
            if not notice.repeats:
                return False
            again = (
                update(vendor_notices)
                .where(vendor_notices.c.key == values["key"], vendor_notices.c.sent_at <= now - repeat_after)
                .values(sent_at=now, detail=notice.text)
                .returning(vendor_notices.c.key)
            )
            return (await connection.execute(again)).first() is not None

    async def release(self, key: str) -> None:
        """Forget a claim whose alert did not go out."""
        async with self._db.begin() as connection:
            await connection.execute(delete(vendor_notices).where(vendor_notices.c.key == key[:300]))

    async def sent(
        self, *, keys: Collection[str] | None = None, vendor_id: VendorId | None = None
    ) -> list[SentNotice]:
        """The notices sent, oldest first: those of ``keys``, or of ``vendor_id``, or all."""
        query = select(vendor_notices).order_by(vendor_notices.c.sent_at, vendor_notices.c.key)
        if keys is not None:
            query = query.where(vendor_notices.c.key.in_(sorted(k[:300] for k in keys)))
        if vendor_id is not None:
            query = query.where(vendor_notices.c.vendor_id == vendor_id)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            SentNotice(r.key, NoticeKind(r.kind), _vendor(r.vendor_id), r.detail, as_utc(r.sent_at))
            for r in rows
        ]


def _vendor(value: str | None) -> VendorId | None:
    return VendorId(value) if value else None
