"""Evidence of use for access reviews (:class:`phigate.vendors.usage.UsageSource`), from the audit trail.

One grouped query over ``audit_events``: the exchanges of the given clients
since a moment, counted per resource type and interaction with their latest
time. It reads the index on (client_id, recorded), so its cost follows the
reviewed clients' traffic in the period, not the size of the trail.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Select, func, select

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import audit_events
from phigate.types import ClientId
from phigate.vendors.usage import Use


class SqlAuditUsage:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def uses(self, since: datetime, client_ids: Collection[str]) -> list[Use]:
        if not client_ids:
            return []
        async with self._db.connect() as connection:
            rows = (await connection.execute(use_query(since, client_ids))).all()
        return [
            Use(ClientId(client), str(rtype), str(action), int(count), datetime.fromtimestamp(last, UTC))
            for client, rtype, action, count, last in rows
        ]


def use_query(since: datetime, client_ids: Collection[str]) -> Select[str, str, str, int, float]:
    """Exchanges of ``client_ids`` since ``since``: (client, resource type, interaction, count, latest)."""
    e = audit_events.c
    return (
        select(e.client_id, e.resource_type, e.action, func.count(), func.max(e.recorded))
        .where(
            e.client_id.in_(sorted(client_ids)),
            e.recorded >= since.timestamp(),
            e.kind == "exchange",
            e.resource_type.is_not(None),
        )
        .group_by(e.client_id, e.resource_type, e.action)
        .order_by(e.client_id, e.resource_type, e.action)
    )
