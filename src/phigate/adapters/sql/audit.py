"""The audit store (SQLAlchemy Core) and the writer task that drains a node's spool into it in order.

Writes are batched: the writer takes up to ``batch_size`` spooled events and
stores them in one transaction, so durability costs no database round trip per
request. Inserts ignore a (node, seq) that is already stored, which makes a
replay after a crash idempotent. While the database is away the spool grows and
the writer retries with back-off; events are stored in spool order when it
returns. Every ``checkpoint_interval`` the node's head is signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phigate.adapters.kms.signing import CheckpointKey
from phigate.adapters.spool import Spool
from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import (
    audit_alerts,
    audit_checkpoints,
    audit_cursors,
    audit_event_patients,
    audit_events,
    audit_purges,
)
from phigate.audit.chain import GENESIS, Chain, ChainedEvent, Checkpoint, checkpoint_message
from phigate.errors import StorageError

log = structlog.get_logger("phigate.audit")
_STREAM_PAGE = 2000


@dataclass(frozen=True)
class AuditQuery:
    patient: str | None = None
    client_id: str | None = None
    vendor_id: str | None = None
    since: float | None = None
    until: float | None = None
    outcome: str | None = None  # "ok", "failed", or an error code
    kind: str | None = None
    limit: int = 1000


class SqlAuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert(self) -> Any:
        return postgresql_insert if self.db.dialect == "postgresql" else sqlite_insert

    async def store(self, events: list[ChainedEvent]) -> None:
        """Store a batch in one transaction; events already stored are left as they are."""
        rows = [_row(e) for e in events]
        patients = [
            {"node": e.node, "seq": e.seq, "patient": p, "recorded": e.event["recorded"]}
            for e in events
            for p in e.event.get("patients", ())
        ]
        insert = self._insert()
        async with self.db.begin() as connection:
            await connection.execute(insert(audit_events).on_conflict_do_nothing(), rows)
            if patients:
                await connection.execute(insert(audit_event_patients).on_conflict_do_nothing(), patients)

    async def head(self, node: str) -> tuple[int, str]:
        """The node's last stored (seq, hash), or where its last purge left it, or (0, GENESIS)."""
        query = (
            select(audit_events.c.seq, audit_events.c.hash)
            .where(audit_events.c.node == node)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        )
        purged = (
            select(audit_purges.c.seq, audit_purges.c.head)
            .where(audit_purges.c.node == node)
            .order_by(audit_purges.c.seq.desc())
            .limit(1)
        )
        async with self.db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
            mark = (await connection.execute(purged)).one_or_none()
        heads = [(0, GENESIS)]
        heads += [(int(row.seq), str(row.hash))] if row is not None else []
        heads += [(int(mark.seq), str(mark.head))] if mark is not None else []
        return max(heads)  # held events below a purge mark must not pull the chain back

    async def nodes(self) -> list[str]:
        query = select(audit_events.c.node).distinct().order_by(audit_events.c.node)
        async with self.db.connect() as connection:
            return [str(n) for n in (await connection.execute(query)).scalars()]

    async def after(self, node: str, seq: int, limit: int) -> list[ChainedEvent]:
        """The node's stored events after ``seq``, in chain order."""
        e = audit_events.c
        query = select(audit_events).where(e.node == node, e.seq > seq).order_by(e.seq).limit(limit)
        async with self.db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [ChainedEvent(r.node, r.seq, r.prev_hash, r.hash, orjson.loads(r.event)) for r in rows]

    async def cursor(self, name: str) -> dict[str, int]:
        """How far the forwarding target ``name`` got: the last seq sent, per node."""
        query = select(audit_cursors.c.node, audit_cursors.c.seq).where(audit_cursors.c.name == name)
        async with self.db.connect() as connection:
            return {str(r.node): int(r.seq) for r in (await connection.execute(query)).all()}

    async def advance(self, name: str, positions: dict[str, int]) -> None:
        rows = [{"name": name, "node": node, "seq": seq} for node, seq in positions.items()]
        if not rows:
            return
        insert = self._insert()(audit_cursors)
        upsert = insert.on_conflict_do_update(
            index_elements=["name", "node"], set_={"seq": insert.excluded.seq}
        )
        async with self.db.begin() as connection:
            await connection.execute(upsert, rows)

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        values = {
            "node": checkpoint.node,
            "seq": checkpoint.seq,
            "head": checkpoint.head,
            "signed_at": checkpoint.signed_at,
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
        }
        async with self.db.begin() as connection:
            await connection.execute(audit_checkpoints.insert().values(**values))

    async def checkpoints(self) -> list[Checkpoint]:
        query = select(audit_checkpoints).order_by(audit_checkpoints.c.node, audit_checkpoints.c.seq)
        async with self.db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Checkpoint(r.node, r.seq, r.head, r.signed_at, r.key_id, bytes(r.signature)) for r in rows]

    async def count(self) -> int:
        async with self.db.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(audit_events))).scalar_one()
            )

    async def stream(self) -> AsyncIterator[ChainedEvent]:
        """Every stored event, node by node in insertion order, a page at a time."""
        last_node, last_id = "", -1
        while True:
            query = (
                select(audit_events)
                .where(
                    (audit_events.c.node > last_node)
                    | and_(audit_events.c.node == last_node, audit_events.c.id > last_id)
                )
                .order_by(audit_events.c.node, audit_events.c.id)
                .limit(_STREAM_PAGE)
            )
            async with self.db.connect() as connection:
                rows = (await connection.execute(query)).all()
            for row in rows:
                yield ChainedEvent(row.node, row.seq, row.prev_hash, row.hash, orjson.loads(row.event))
            if len(rows) < _STREAM_PAGE:
                return
            last_node, last_id = rows[-1].node, rows[-1].id

    async def search(self, q: AuditQuery) -> list[ChainedEvent]:
        e = audit_events.c
        query = select(audit_events)
        if q.patient is not None:
            p = audit_event_patients.c
            query = query.join(audit_event_patients, and_(p.node == e.node, p.seq == e.seq)).where(
                p.patient == q.patient
            )
        conditions = [
            e.client_id == q.client_id if q.client_id is not None else None,
            e.vendor_id == q.vendor_id if q.vendor_id is not None else None,
            e.recorded >= q.since if q.since is not None else None,
            e.recorded < q.until if q.until is not None else None,
            e.kind == q.kind if q.kind is not None else None,
            _outcome(q.outcome),
        ]
        for condition in conditions:
            if condition is not None:
                query = query.where(condition)
        query = query.order_by(e.recorded, e.node, e.seq).limit(q.limit)
        async with self.db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [ChainedEvent(r.node, r.seq, r.prev_hash, r.hash, orjson.loads(r.event)) for r in rows]

    async def add_alert(self, values: dict[str, Any]) -> None:
        async with self.db.begin() as connection:
            await connection.execute(audit_alerts.insert().values(**values))

    async def alerts(self) -> list[dict[str, Any]]:
        async with self.db.connect() as connection:
            rows = (await connection.execute(select(audit_alerts).order_by(audit_alerts.c.id))).all()
        return [{str(k): v for k, v in r._mapping.items()} for r in rows]  # plain str keys: JSON-ready


def _outcome(outcome: str | None) -> Any:
    if outcome is None:
        return None
    if outcome == "failed":
        return audit_events.c.outcome != "ok"
    return audit_events.c.outcome == outcome


def _row(event: ChainedEvent) -> dict[str, Any]:
    data = event.event
    return {
        "node": event.node,
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "recorded": data["recorded"],
        "kind": data["kind"],
        "action": str(data.get("action", ""))[:64],
        "client_id": data.get("client_id"),
        "vendor_id": data.get("vendor_id"),
        "outcome": str(data.get("outcome", "ok"))[:64],
        "event": orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode(),
        "resource_type": str(data["resource_type"])[:64] if data.get("resource_type") else None,
    }


class AuditWriter:
    """Drains one node's spool into the store, in order, in batches; signs checkpoints.

    :meth:`start` launches the task; :meth:`wake` asks for an early drain (the
    recorder calls it when a batch is ready); :meth:`stop` drains what it can
    within ``wait_seconds`` and signs a last checkpoint. ``lag`` is the number of
    spooled events not yet stored (a metric; it grows during an outage).
    """

    def __init__(
        self,
        store: SqlAuditStore,
        spool: Spool,
        node: str,
        key: Callable[[], CheckpointKey | None],
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        checkpoint_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.spool, self.node = store, spool, node
        self.key = key
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.clock = clock
        self.stored_seq = 0
        self.stored_hash = GENESIS
        self.spooled_seq = 0
        self._signed_seq = 0
        self._last_checkpoint = clock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def lag(self) -> int:
        return max(0, self.spooled_seq - self.stored_seq)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self, wait_seconds: float = 5.0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(StorageError, TimeoutError):
            async with asyncio.timeout(wait_seconds):
                while await self.drain() > 0:
                    pass
                await self.checkpoint(force=True)

    async def _run(self) -> None:
        backoff = self.flush_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self.drain() >= self.batch_size:
                    pass
                await self.checkpoint()
            except StorageError:
                if not self._failing:
                    log.warning("audit_store_unavailable", node=self.node, lag=self.lag)
                self._failing = True
                backoff = min(backoff * 2, 5.0)
                continue
            if self._failing:
                log.info("audit_store_recovered", node=self.node, stored_seq=self.stored_seq)
            self._failing = False
            backoff = self.flush_interval

    async def drain(self) -> int:
        """Store the next batch; return how many events it held (0: the spool is drained)."""
        events, position = self.spool.read(self.batch_size)
        fresh = [e for e in events if e.seq > self.stored_seq]
        if fresh:
            await self.store.store(fresh)
            self.stored_seq, self.stored_hash = fresh[-1].seq, fresh[-1].hash
        self.spool.position = position
        self.spool.release(self.stored_seq)
        return len(events)

    async def checkpoint(self, force: bool = False) -> None:
        """Sign the stored head when it moved and the interval passed (or ``force``)."""
        now = self.clock()
        key = self.key()
        due = force or now - self._last_checkpoint >= self.checkpoint_interval
        if key is None or not due or self.stored_seq <= self._signed_seq:
            return
        message = checkpoint_message(self.node, self.stored_seq, self.stored_hash, now)
        checkpoint = Checkpoint(
            self.node, self.stored_seq, self.stored_hash, now, key.key_id, key.sign(message)
        )
        await self.store.add_checkpoint(checkpoint)
        self._signed_seq, self._last_checkpoint = self.stored_seq, now


async def append_now(
    store: SqlAuditStore, node: str, event: dict[str, Any], key: CheckpointKey | None
) -> None:
    """Chain, store and seal one event at once: for the command line, which has no spool or writer.

    ``node`` names this writer's own chain (one per host and process), so it never races a gateway node.
    """
    seq, head = await store.head(node)
    chain = Chain(node, seq, head)
    chained = chain.append(event)
    await store.store([chained])
    if key is not None:
        now = time.time()
        message = checkpoint_message(node, chained.seq, chained.hash, now)
        await store.add_checkpoint(
            Checkpoint(node, chained.seq, chained.hash, now, key.key_id, key.sign(message))
        )
