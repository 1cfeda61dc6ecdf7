"""A vendor's evidence and agreements in the durable store; attached files sealed by the keyring.

An attachment is stored encrypted (AES-256-GCM under the keyring's data key,
bound to its table, row and vendor) next to the SHA-256 of its plaintext, which
is checked again whenever it is read back. Removing an item keeps its row
(``removed_at``) for the registry's history; removed items no longer count.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import vendor_agreements, vendor_events, vendor_evidence, vendor_profiles
from phigate.adapters.sql.vendor_codec import (
    agreement_document,
    agreement_of,
    dumps,
    evidence_document,
    evidence_of,
)
from phigate.errors import KeyStoreError
from phigate.ports import DataCipher
from phigate.types import VendorId
from phigate.vendors.agreements import Agreement
from phigate.vendors.evidence import Evidence
from phigate.vendors.records import NotRegistered


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def sealing_context(table: str, row_id: str, vendor_id: str) -> bytes:
    return json.dumps([table, row_id, vendor_id], separators=(",", ":")).encode()


@dataclass(frozen=True)
class VendorChange:
    """One change to the registry, as written to ``vendor_events`` (and then to the audit trail)."""

    vendor_id: str
    at: datetime
    actor: str
    action: str
    detail: str


# Why a context variable: every registry change (evidence, agreements, incidents, suspensions, reviews)
# already passes through record_event in its own transaction; collecting them here lets the CLI and the
# admin API send each one to the audit trail without threading a sink through every adapter method.
_journal: ContextVar[list[VendorChange] | None] = ContextVar("vendor_change_journal", default=None)


@contextmanager
def journal() -> Iterator[list[VendorChange]]:
    """Collect the changes recorded inside the block (the caller audits them once the block succeeds)."""
    changes: list[VendorChange] = []
    token = _journal.set(changes)
    try:
        yield changes
    finally:
        _journal.reset(token)


async def record_event(
    connection: AsyncConnection, vendor_id: str, actor: str, action: str, detail: str, at: datetime
) -> None:
    """One line of the registry's trail, written in the caller's transaction."""
    values = {"vendor_id": vendor_id, "at": at, "actor": actor[:200], "action": action, "detail": detail}
    await connection.execute(insert(vendor_events).values(values))
    changes = _journal.get()
    if changes is not None:
        changes.append(VendorChange(vendor_id, at, actor[:200], action, detail))


async def upsert_profile(
    connection: AsyncConnection, dialect: str, vendor_id: str, now: datetime, **changes: Any
) -> None:
    """Set ``changes`` on the vendor's profile row, creating it (empty details) when there is none."""
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    fresh = {"details": "{}", **changes}
    statement = insert_(vendor_profiles).values(vendor_id=vendor_id, updated_at=now, **fresh)
    statement = statement.on_conflict_do_update(
        index_elements=[vendor_profiles.c.vendor_id], set_={**changes, "updated_at": now}
    )
    await connection.execute(statement)


class SqlVendorEvidence:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def add_evidence(self, item: Evidence, content: bytes | None, actor: str) -> None:
        """Store ``item``; ``content`` is its attached file, whose hash must match ``item.attachment``."""
        digest = item.attachment.sha256 if item.attachment is not None else None
        sealed = await self._sealed("vendor_evidence", item.id, item.vendor_id, content, digest)
        values = {
            "id": item.id, "vendor_id": item.vendor_id, "kind": item.kind.value,
            "details": dumps(evidence_document(item)), "attachment": sealed,
            "attachment_sha256": item.attachment.sha256 if item.attachment else None,
            "recorded_at": item.recorded_at,
        }  # fmt: skip
        async with self._db.begin() as connection:
            await connection.execute(insert(vendor_evidence).values(values))
            await record_event(
                connection, item.vendor_id, actor, "evidence.add", f"{item.id} {item.label}", item.recorded_at
            )

    async def add_agreement(self, item: Agreement, content: bytes | None, actor: str) -> None:
        sealed = await self._sealed("vendor_agreements", item.id, item.vendor_id, content, item.file_sha256)
        values = {
            "id": item.id, "vendor_id": item.vendor_id, "kind": item.kind.value,
            "details": dumps(agreement_document(item)), "document": sealed,
            "file_sha256": item.file_sha256, "recorded_at": item.recorded_at,
        }  # fmt: skip
        async with self._db.begin() as connection:
            await connection.execute(insert(vendor_agreements).values(values))
            await record_event(
                connection,
                item.vendor_id,
                actor,
                "agreement.add",
                f"{item.id} {item.label}",
                item.recorded_at,
            )

    async def evidence(self, vendor_id: VendorId) -> list[Evidence]:
        table = vendor_evidence
        query = select(table).where(table.c.vendor_id == vendor_id, table.c.removed_at.is_(None))
        async with self._db.connect() as connection:
            rows = (await connection.execute(query.order_by(table.c.recorded_at))).all()
        return [_evidence(row) for row in rows]

    async def agreements(self, vendor_id: VendorId) -> list[Agreement]:
        table = vendor_agreements
        query = select(table).where(table.c.vendor_id == vendor_id, table.c.removed_at.is_(None))
        async with self._db.connect() as connection:
            rows = (await connection.execute(query.order_by(table.c.recorded_at))).all()
        return [_agreement(row) for row in rows]

    async def remove(self, vendor_id: VendorId, item_id: str, actor: str, now: datetime) -> None:
        """Withdraw one evidence item or agreement of ``vendor_id``; NotRegistered when there is none."""
        table = vendor_agreements if item_id.startswith("ag-") else vendor_evidence
        statement = (
            update(table)
            .where(table.c.id == item_id, table.c.vendor_id == vendor_id, table.c.removed_at.is_(None))
            .values(removed_at=now)
        )
        async with self._db.begin() as connection:
            result = await connection.execute(statement)
            if not result.rowcount:
                raise NotRegistered(f"Vendor '{vendor_id}' has no evidence or agreement '{item_id[:40]}'.")
            await record_event(connection, vendor_id, actor, "document.remove", item_id, now)

    async def attachment(self, vendor_id: VendorId, item_id: str) -> bytes | None:
        """An item's attached file, decrypted and checked against its recorded hash."""
        table, column, digest = (
            (vendor_agreements, vendor_agreements.c.document, vendor_agreements.c.file_sha256)
            if item_id.startswith("ag-")
            else (vendor_evidence, vendor_evidence.c.attachment, vendor_evidence.c.attachment_sha256)
        )
        query = select(column, digest).where(table.c.id == item_id, table.c.vendor_id == vendor_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None or row[0] is None:
            return None
        content = await self._cipher.decrypt(bytes(row[0]), sealing_context(table.name, item_id, vendor_id))
        if sha256_hex(content) != row[1]:
            raise KeyStoreError("A stored attachment does not match its recorded hash.")
        return content

    async def _sealed(
        self, table: str, row_id: str, vendor_id: str, content: bytes | None, expected: str | None
    ) -> bytes | None:
        if content is None:
            return None
        if expected != sha256_hex(content):
            raise ValueError("the attachment's recorded hash is not the hash of its content")
        return await self._cipher.encrypt(content, sealing_context(table, row_id, vendor_id))


def _evidence(row: Row[tuple[object, ...]]) -> Evidence:
    return evidence_of(row.id, row.vendor_id, row.kind, row.details, row.recorded_at, row.attachment_sha256)


def _agreement(row: Row[tuple[object, ...]]) -> Agreement:
    return agreement_of(row.id, row.vendor_id, row.kind, row.details, row.recorded_at, row.file_sha256)
