"""Usage counts for access reviews (:class:`phigate.vendors.usage.UsageStore`), summed across nodes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import client_usage
from phigate.types import ClientId
from phigate.vendors.usage import Use


class SqlClientUsage:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, uses: list[Use]) -> None:
        insert_ = postgresql_insert if self._db.dialect == "postgresql" else sqlite_insert
        async with self._db.begin() as connection:
            for use in uses:
                statement = insert_(client_usage).values(
                    client_id=use.client_id[:128], resource_type=use.resource_type[:64],
                    interaction=use.interaction[:16], count=use.count, last_at=use.last_at,
                )  # fmt: skip
                excluded = statement.excluded
                statement = statement.on_conflict_do_update(
                    index_elements=[
                        client_usage.c.client_id,
                        client_usage.c.resource_type,
                        client_usage.c.interaction,
                    ],
                    set_={
                        "count": client_usage.c.count + excluded.count,
                        "last_at": func.max(client_usage.c.last_at, excluded.last_at)
                        if self._db.dialect == "sqlite"
                        else func.greatest(client_usage.c.last_at, excluded.last_at),
                    },
                )
                await connection.execute(statement)

    async def uses(self, client_id: ClientId | None = None) -> list[Use]:
        query = select(client_usage).order_by(client_usage.c.client_id, client_usage.c.resource_type)
        if client_id is not None:
            query = query.where(client_usage.c.client_id == client_id)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            Use(ClientId(r.client_id), r.resource_type, r.interaction, int(r[3]), as_utc(r.last_at))
            for r in rows
        ]
