"""``phigate vendor``: the third parties that own OAuth clients.

Every command opens the configured store and brings its schema up to date first
(migrations are idempotent and locked, so this is safe beside running nodes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from phigate.adapters.sql import Database, open_database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.cli.output import emit, reported_errors
from phigate.settings import ResolvedSettings, load_settings
from phigate.types import VendorId
from phigate.vendors.records import NotRegistered, Vendor, check_vendor_id, vendor_slug

vendor_app = typer.Typer(no_args_is_help=True, help="Vendors: the third parties that own OAuth clients.")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
T = TypeVar("T")


# --- plumbing (also used by `phigate client` and `phigate demo`) ---------------------------------------


def run_with_settings(config: Path, work: Callable[[ResolvedSettings], Coroutine[Any, Any, T]]) -> T:
    """Load ``config`` and run ``work``; any phigate error becomes a one-line reason and exit 1."""
    with reported_errors():
        return asyncio.run(work(load_settings(config)))


@asynccontextmanager
async def migrated_database(resolved: ResolvedSettings) -> AsyncIterator[Database]:
    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        await db.migrate()
        yield db
    finally:
        await db.close()


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


# --- commands -----------------------------------------------------------------------------------------


@vendor_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The vendor's name, such as 'Acme Diagnostics'.")],
    vendor_id: Annotated[
        str | None, typer.Option("--id", help="The vendor id (default: made from the name).")
    ] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Register a vendor."""

    async def work(resolved: ResolvedSettings) -> Vendor:
        async with migrated_database(resolved) as db:
            return await register_vendor(db, name, vendor_id)

    vendor = run_with_settings(config, work)
    emit(vendor_view(vendor, []), as_json, lambda v: f"registered vendor {v['id']} ({v['name']})")


@vendor_app.command("list")
def list_vendors(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """List every vendor with the number of its clients."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with migrated_database(resolved) as db:
            clients = await SqlClientRegistry(db).list()
            return [
                vendor_view(v, [c.client_id for c in clients if c.vendor_id == v.id])
                for v in await SqlVendorRegistry(db).list()
            ]

    emit(run_with_settings(config, work), as_json, _render_list)


@vendor_app.command("show")
def show(
    vendor_id: Annotated[str, typer.Argument(help="The vendor id.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Show one vendor and the ids of its clients."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            vendor = await required_vendor(db, VendorId(vendor_id))
            clients = await SqlClientRegistry(db).list(vendor.id)
            return vendor_view(vendor, [c.client_id for c in clients])

    emit(run_with_settings(config, work), as_json, _render_vendor)


@vendor_app.command("remove")
def remove(
    vendor_id: Annotated[str, typer.Argument(help="The vendor id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Remove a vendor that owns no client (a vendor with clients is kept: disable its clients)."""

    async def work(resolved: ResolvedSettings) -> None:
        async with migrated_database(resolved) as db:
            await SqlVendorRegistry(db).remove(VendorId(vendor_id))

    run_with_settings(config, work)
    typer.echo(f"removed vendor {vendor_id}")


def vendor_view(vendor: Vendor, client_ids: list[str]) -> dict[str, Any]:
    return {
        "id": vendor.id,
        "name": vendor.name,
        "status": vendor.status.value,
        "created_at": vendor.created_at.isoformat(),
        "clients": client_ids,
    }


def _render_vendor(view: dict[str, Any]) -> str:
    lines = [
        f"vendor {view['id']}",
        f"  name:     {view['name']}",
        f"  status:   {view['status']}",
        f"  created:  {view['created_at']}",
        f"  clients:  {', '.join(view['clients']) or 'none'}",
    ]
    return "\n".join(lines)


def _render_list(views: list[dict[str, Any]]) -> str:
    if not views:
        return "no vendors registered (add one: phigate vendor add NAME)"
    return "\n".join(
        f"{v['id']:<32} {v['status']:<10} {len(v['clients']):>3} client(s)  {v['name']}" for v in views
    )
