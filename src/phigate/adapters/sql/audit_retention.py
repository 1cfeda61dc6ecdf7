"""Legal holds and the retention purge of the audit store (SQLAlchemy Core).

:meth:`SqlRetention.purge` removes, node by node in one transaction each, the
chain's prefix recorded before the cut-off except held events, and signs a
:class:`~phigate.audit.retention.PurgeMark` so ``audit verify`` starts after it.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import and_, delete, exists, func, not_, or_, select

from phigate.adapters.kms.signing import CheckpointKey
from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import audit_event_patients, audit_events, audit_holds, audit_purges
from phigate.audit.retention import Hold, PurgeMark, purge_message


class SqlRetention:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_hold(self, hold: Hold) -> Hold:
        values: dict[str, Any] = {
            "patient": hold.patient,
            "client_id": hold.client_id,
            "since": hold.since,
            "until": hold.until,
            "reason": hold.reason,
            "created_at": hold.created_at,
        }
        async with self.db.begin() as connection:
            result = await connection.execute(audit_holds.insert().values(**values))
            key = result.inserted_primary_key
        assert key is not None
        return Hold(**(values | {"id": int(key[0])}))

    async def holds(self) -> list[Hold]:
        async with self.db.connect() as connection:
            rows = (await connection.execute(select(audit_holds).order_by(audit_holds.c.id))).all()
        return [Hold(**dict(r._mapping)) for r in rows]

    async def remove_hold(self, hold_id: int) -> Hold | None:
        async with self.db.begin() as connection:
            row = (
                await connection.execute(select(audit_holds).where(audit_holds.c.id == hold_id))
            ).one_or_none()
            if row is None:
                return None
            await connection.execute(delete(audit_holds).where(audit_holds.c.id == hold_id))
        return Hold(**dict(row._mapping))

    async def marks(self) -> list[PurgeMark]:
        async with self.db.connect() as connection:
            rows = (await connection.execute(select(audit_purges).order_by(audit_purges.c.id))).all()
        return [
            PurgeMark(
                r.node,
                r.seq,
                r.head,
                tuple(orjson.loads(r.kept)),
                r.removed,
                r.cutoff,
                r.signed_at,
                r.key_id,
                bytes(r.signature),
            )
            for r in rows
        ]

    async def purge(self, cut: float, key: CheckpointKey) -> list[PurgeMark]:
        """Remove events recorded before ``cut`` that no hold covers; one signed mark per node purged."""
        holds = await self.holds()
        async with self.db.connect() as connection:
            nodes = [
                str(n) for n in (await connection.execute(select(audit_events.c.node).distinct())).scalars()
            ]
        marks = []
        for node in sorted(nodes):
            mark = await self._purge_node(node, cut, holds, key)
            if mark is not None:
                marks.append(mark)
        return marks

    async def _purge_node(
        self, node: str, cut: float, holds: list[Hold], key: CheckpointKey
    ) -> PurgeMark | None:
        e = audit_events.c
        async with self.db.begin() as connection:
            last = await self._prefix_end(connection, node, cut)
            if last is None:
                return None
            seq, head = last
            scope = and_(e.node == node, e.seq <= seq)
            result = await connection.execute(delete(audit_events).where(scope, not_(_held(holds))))
            removed = int(result.rowcount or 0)
            if removed == 0:
                return None
            p = audit_event_patients.c
            gone = ~exists().where(e.node == p.node, e.seq == p.seq)
            await connection.execute(delete(audit_event_patients).where(p.node == node, p.seq <= seq, gone))
            kept = tuple((await connection.execute(select(e.seq).where(scope).order_by(e.seq))).scalars())
            now = time.time()
            message = purge_message(node, seq, head, kept, removed, cut, now)
            mark = PurgeMark(node, seq, head, kept, removed, cut, now, key.key_id, key.sign(message))
            await connection.execute(audit_purges.insert().values(_mark_row(mark)))
        return mark

    async def _prefix_end(self, connection: Any, node: str, cut: float) -> tuple[int, str] | None:
        """The last event of the chain's prefix recorded before ``cut``, past the node's last purge."""
        e = audit_events.c
        marks = audit_purges.c
        latest = select(marks.seq, marks.head).where(marks.node == node).order_by(marks.seq.desc()).limit(1)
        mark = (await connection.execute(latest)).one_or_none()
        start = int(mark.seq) if mark is not None else 0
        young = select(func.min(e.seq)).where(e.node == node, e.seq > start, e.recorded >= cut)
        first_young = (await connection.execute(young)).scalar_one()
        query = select(e.seq, e.hash).where(e.node == node, e.seq > start)
        if first_young is not None:
            query = query.where(e.seq < first_young)
        row = (await connection.execute(query.order_by(e.seq.desc()).limit(1))).one_or_none()
        if row is not None:
            return int(row.seq), str(row.hash)
        # Nothing new to cut: the last mark again, so events whose hold has ended go now.
        return (start, str(mark.head)) if mark is not None else None


def _held(holds: list[Hold]) -> Any:
    """The SQL condition: an event some hold covers (false when there are none)."""
    e, p = audit_events.c, audit_event_patients.c
    conditions = []
    for hold in holds:
        parts = [
            e.client_id == hold.client_id if hold.client_id is not None else None,
            e.recorded >= hold.since if hold.since is not None else None,
            e.recorded < hold.until if hold.until is not None else None,
            exists().where(p.node == e.node, p.seq == e.seq, p.patient == hold.patient)
            if hold.patient is not None
            else None,
        ]
        conditions.append(and_(*[c for c in parts if c is not None]))
    return or_(*conditions) if conditions else e.id.is_(None)


def _mark_row(mark: PurgeMark) -> dict[str, Any]:
    return {
        "node": mark.node,
        "seq": mark.seq,
        "head": mark.head,
        "kept": orjson.dumps(list(mark.kept)).decode(),
        "removed": mark.removed,
        "cutoff": mark.cutoff,
        "signed_at": mark.signed_at,
        "key_id": mark.key_id,
        "signature": mark.signature,
    }
