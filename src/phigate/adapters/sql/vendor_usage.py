"""Evidence of use for access reviews (:class:`phigate.vendors.usage.UsageSource`), from the audit trail.

One grouped query over ``audit_events``: the exchanges of the given clients
since a moment, counted per resource type and interaction with their latest
time. It reads the index on (client_id, recorded), so its cost follows the
reviewed clients' traffic in the period, not the size of the trail. The vendor
report also counts the clients' refused requests by outcome, and their
disclosures (the per-patient rows of their replies) with distinct patients.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, distinct, func, select

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import audit_event_patients, audit_events
from phigate.types import ClientId
from phigate.vendors.usage import Disclosures, Refusals, Use


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

    async def refusals(self, since: datetime, client_ids: Collection[str]) -> list[Refusals]:
        """The clients' refused exchanges since ``since``, counted per outcome."""
        if not client_ids:
            return []
        e = audit_events.c
        query = (
            select(e.client_id, e.outcome, func.count())
            .where(*_exchanges_of(since, client_ids), e.outcome != "ok")
            .group_by(e.client_id, e.outcome)
            .order_by(e.client_id, e.outcome)
        )
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Refusals(ClientId(client), str(outcome), int(count)) for client, outcome, count in rows]

    async def disclosures(self, since: datetime, client_ids: Collection[str]) -> list[Disclosures]:
        """Per client: patient disclosures since ``since`` and how many distinct patients they were of."""
        if not client_ids:
            return []
        e, p = audit_events.c, audit_event_patients.c
        query = (
            select(e.client_id, func.count(), func.count(distinct(p.patient)))
            .select_from(audit_events.join(audit_event_patients, and_(p.node == e.node, p.seq == e.seq)))
            .where(*_exchanges_of(since, client_ids))
            .group_by(e.client_id)
            .order_by(e.client_id)
        )
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Disclosures(ClientId(client), int(count), int(patients)) for client, count, patients in rows]


def _exchanges_of(since: datetime, client_ids: Collection[str]) -> tuple[Any, ...]:
    e = audit_events.c
    return (e.client_id.in_(sorted(client_ids)), e.recorded >= since.timestamp(), e.kind == "exchange")


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
