"""Vendor changes and posture decisions as audit events (issue 9 on the evidence plane, issue 8).

Two kinds of fact enter the trail:

- ``vendor.<action>``: a registry change (``vendor.incident.record``, ``vendor.vendor.suspend``,
  ``vendor.document.add`` ...), one per line of ``vendor_events``, with who made it (``rules.actor``);
- ``vendor.posture``: a node began enforcing a new standing for a vendor (the reasons, the previous
  standing). Each node records the transitions it sees, since each node enforces on its own.

Reasons are the registry's safe texts (kinds of document, dates, ids), never request values.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable

from phigate.adapters.kms.signing import CheckpointKeys
from phigate.adapters.sql.audit import SqlAuditStore, append_now
from phigate.adapters.sql.database import Database
from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.adapters.sql.vendor_evidence import VendorChange
from phigate.audit.events import AuditEvent, Kind
from phigate.ports import DataCipher
from phigate.types import VendorId
from phigate.vendors.posture import Posture

AuditSink = Callable[[AuditEvent], Awaitable[None]]


def change_event(change: VendorChange) -> AuditEvent:
    return AuditEvent(
        kind=Kind.security,
        action=f"vendor.{change.action}",
        recorded=change.at.timestamp(),
        vendor_id=change.vendor_id,
        reason=change.detail[:500],
        rules={"actor": change.actor},
    )


def posture_event(vendor_id: VendorId, previous: Posture | None, posture: Posture, now: float) -> AuditEvent:
    return AuditEvent(
        kind=Kind.security,
        action="vendor.posture",
        recorded=now,
        vendor_id=vendor_id,
        outcome="forbidden" if posture.refuses_all else "ok",
        reason="; ".join(posture.reasons) or None,
        rules={
            "standing": posture.standing.value,
            "previous": previous.standing.value if previous is not None else None,
            "restrictions": sorted(r.value for r in posture.restrictions),
        },
    )


async def audit_changes(sink: AuditSink, changes: list[VendorChange]) -> None:
    for change in changes:
        await sink(change_event(change))


async def store_sink(db: Database, cipher: DataCipher) -> AuditSink:
    """The command line's way into the trail: the same audit store the nodes drain their spools into.

    The CLI has no node (no spool, no writer), so each event is chained, stored and sealed at once by
    :func:`append_now` on a chain of its own (one per host, process and start time), which never races
    a node's chain; ``phigate audit verify`` checks it with the rest.
    """
    keys = await CheckpointKeys.load(SqlSecretStore(db, cipher))
    store = SqlAuditStore(db)
    node = f"cli-{socket.gethostname()}-{os.getpid()}-{int(time.time())}"[:128]

    async def sink(event: AuditEvent) -> None:
        await append_now(store, node, event.record(), keys.signing)

    return sink
