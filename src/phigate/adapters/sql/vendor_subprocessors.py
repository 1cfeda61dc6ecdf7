"""A vendor's sub-processors and their changes in the durable store (compliance-controls A.4).

One row per proposed change: a new sub-processor, or a change to one on the
list (``details.replaces``). Deciding a change is a conditional update (only a
pending row is decided), so two administrators deciding at once cannot both
win; approving a change supersedes the entry it replaces in the same
transaction. Every write adds its line to ``vendor_events``.
"""

from __future__ import annotations

import builtins

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import oauth_clients, vendor_subprocessors
from phigate.adapters.sql.vendor_codec import dumps, subprocessor_document, subprocessor_of
from phigate.adapters.sql.vendor_evidence import record_event
from phigate.types import ClientId, VendorId
from phigate.vendors.records import NotRegistered, RegistrationError
from phigate.vendors.subprocessors import ChangeStatus, Subprocessor

_T = vendor_subprocessors


class SqlSubprocessors:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, vendor_id: VendorId) -> list[Subprocessor]:
        """Every entry and change of the vendor, oldest first."""
        async with self._db.connect() as connection:
            return await self.read(connection, vendor_id)

    async def read(self, connection: AsyncConnection, vendor_id: VendorId) -> builtins.list[Subprocessor]:
        query = select(_T).where(_T.c.vendor_id == vendor_id).order_by(_T.c.proposed_at, _T.c.id)
        return [_item(row) for row in (await connection.execute(query)).all()]

    async def get(self, vendor_id: VendorId, item_id: str) -> Subprocessor:
        query = select(_T).where(_T.c.id == item_id, _T.c.vendor_id == vendor_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            raise NotRegistered(f"Vendor '{vendor_id}' has no sub-processor change '{item_id[:40]}'.")
        return _item(row)

    async def client_scopes(self, vendor_id: VendorId) -> dict[ClientId, str]:
        """The vendor's clients' registered scopes now: what a proposed change holds access to."""
        query = select(oauth_clients.c.client_id, oauth_clients.c.scopes).where(
            oauth_clients.c.vendor_id == vendor_id
        )
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {ClientId(row.client_id): row.scopes for row in rows}

    async def propose(self, item: Subprocessor, actor: str) -> None:
        """Store a pending change (or, from a registry file, an entry as it was decided there)."""
        values = {
            "id": item.id, "vendor_id": item.vendor_id, "name": item.name, "status": item.status.value,
            "details": dumps(subprocessor_document(item)), "proposed_at": item.proposed_at,
            "decided_at": item.decided_at,
        }  # fmt: skip
        detail = f"{item.id} {item.name} {item.change} ({item.status.value})"
        async with self._db.begin() as connection:
            await connection.execute(insert(_T).values(values))
            await record_event(
                connection, item.vendor_id, actor, "subprocessor.propose", detail, item.proposed_at
            )

    async def decide(self, item: Subprocessor, actor: str) -> None:
        """Store the decision on a pending change: approved (superseding what it replaces) or objected."""
        assert item.decided_at is not None and not item.pending
        values = {"status": item.status.value, "details": dumps(subprocessor_document(item)),
                  "decided_at": item.decided_at}  # fmt: skip
        pending = _T.c.status == ChangeStatus.pending.value
        action = "subprocessor.approve" if item.status is ChangeStatus.approved else "subprocessor.object"
        async with self._db.begin() as connection:
            result = await connection.execute(update(_T).where(_T.c.id == item.id, pending).values(values))
            if not result.rowcount:
                raise RegistrationError("status", f"change {item.id} is decided already")
            if item.status is ChangeStatus.approved and item.replaces is not None:
                await connection.execute(
                    update(_T).where(_T.c.id == item.replaces).values(status=ChangeStatus.superseded.value)
                )
            detail = f"{item.id} {item.name}" + (f": {item.note}" if item.note else "")
            await record_event(connection, item.vendor_id, actor, action, detail, item.decided_at)


def _item(row: Row[tuple[object, ...]]) -> Subprocessor:
    return subprocessor_of(
        row.id, row.vendor_id, row.name, row.status, row.details, row.proposed_at, row.decided_at
    )
