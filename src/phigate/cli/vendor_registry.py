"""The vendor registry as the ``phigate vendor`` commands open it (also used by ``phigate user``, the demo
and tests).

Every change a command makes is journaled and goes to the audit trail, with the operating-system user
as its actor, once the command is done.
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from phigate.adapters.sql import Database
from phigate.adapters.sql.vendor_evidence import journal
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_audit import audit_changes, store_sink
from phigate.cli.store import migrated_database, open_keyring
from phigate.settings import ResolvedSettings
from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.posture import Posture, evaluate
from phigate.vendors.records import NotRegistered, Vendor, check_vendor_id, vendor_slug

VendorArg = Annotated[str, typer.Argument(help="The vendor id.")]
Many = Annotated[list[str] | None, typer.Option()]


async def register_vendor(db: Database, name: str, vendor_id: str | None = None) -> Vendor:
    """Add a vendor; its id defaults to a slug of ``name`` (``Acme Labs`` -> ``acme-labs``)."""
    chosen = check_vendor_id(vendor_id) if vendor_id is not None else vendor_slug(name)
    vendor = Vendor(id=chosen, name=name, created_at=datetime.now(UTC))
    await SqlVendorRegistry(db).add(vendor)
    return vendor


async def required_vendor(db: Database, vendor_id: VendorId) -> Vendor:
    vendor = await SqlVendorRegistry(db).get(vendor_id)
    if vendor is None:
        raise NotRegistered(f"No vendor '{vendor_id}' is registered (see `phigate vendor list`).")
    return vendor


def actor() -> str:
    """Who made a registry change, for its trail: the operating-system user running the CLI."""
    return f"cli:{getpass.getuser()}"


@asynccontextmanager
async def risk_registry(resolved: ResolvedSettings) -> AsyncIterator[tuple[Database, SqlVendorRisk]]:
    """The migrated store and the vendor risk registry, its sealed columns opened with the master key."""
    async with migrated_database(resolved) as db:
        keyring = await open_keyring(db, resolved)
        with journal() as changes:  # every change the command makes goes to the audit trail once it is done
            yield db, SqlVendorRisk(db, keyring)
        if changes:
            await audit_changes(await store_sink(db, keyring), changes)


async def standing_of(risk: SqlVendorRisk, rules: VendorSettings, vendor_id: VendorId) -> Posture:
    return evaluate(await risk.dossier(vendor_id), rules, datetime.now(UTC))


async def require_registered(risk: SqlVendorRisk, vendor_id: VendorId) -> None:
    if not (await risk.dossier(vendor_id)).known:
        raise NotRegistered(f"No vendor '{vendor_id}' is registered (see `phigate vendor list`).")
