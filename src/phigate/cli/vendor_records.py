"""``phigate vendor`` records: add, list, show, remove, profile, suspend, reinstate, webhook secret,
export and import of the registry.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.adapters.sql.vendor_risk import VendorProfile
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_audit import store_sink
from phigate.admin.vendor_registry_file import export_registry, import_registry, parse_registry
from phigate.admin.vendor_webhook import new_webhook_secret
from phigate.audit.events import AuditEvent, Kind
from phigate.cli.output import emit
from phigate.cli.store import ConfigOption, JsonOption, migrated_database, open_keyring, run_with_settings
from phigate.cli.vendor_registry import (
    Many,
    VendorArg,
    actor,
    register_vendor,
    required_vendor,
    risk_registry,
    standing_of,
)
from phigate.settings import ResolvedSettings
from phigate.types import VendorId
from phigate.vendors.records import Vendor, check_name, check_vendor_id


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


def show(
    vendor_id: Annotated[str, typer.Argument(help="The vendor id.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Show one vendor and the ids of its clients."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (db, risk):
            vendor = await required_vendor(db, VendorId(vendor_id))
            clients = await SqlClientRegistry(db).list(vendor.id)
            posture = await standing_of(risk, resolved.settings.vendors, vendor.id)
            profile = await risk.profile(vendor.id)
            view = vendor_view(vendor, [c.client_id for c in clients])
            return view | profile.public() | {k: v for k, v in posture.as_dict().items() if k != "factors"}

    emit(run_with_settings(config, work), as_json, _render_vendor)


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
        f"  standing: {view.get('standing', 'unknown')}",
    ]
    lines += [f"    - {reason}" for reason in view.get("reasons", ())]
    lines += [f"    ! {warning}" for warning in view.get("warnings", ())]
    return "\n".join(lines)


def _render_list(views: list[dict[str, Any]]) -> str:
    if not views:
        return "no vendors registered (add one: phigate vendor add NAME)"
    return "\n".join(
        f"{v['id']:<32} {v['status']:<10} {len(v['clients']):>3} client(s)  {v['name']}" for v in views
    )


def profile(
    vendor_id: VendorArg,
    legal_name: Annotated[str, typer.Option(help="The vendor's legal name.")] = "",
    jurisdiction: Many = None,
    service: Many = None,
    data_category: Many = None,
    security_contact: Annotated[str | None, typer.Option(help="Security contact (stored encrypted).")] = None,
    incident_contact: Annotated[
        str | None, typer.Option(help="Incident-response contact (encrypted).")
    ] = None,
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Set the vendor's registry profile: legal name, jurisdictions (EU needs a DPA), services, contacts."""
    contacts = {k: v for k, v in (("security", security_contact), ("incident", incident_contact)) if v}
    record = VendorProfile(
        legal_name=legal_name,
        jurisdictions=tuple(jurisdiction or ()),
        services=tuple(service or ()),
        data_categories=tuple(data_category or ()),
        contacts=contacts,
    )

    async def work(resolved: ResolvedSettings) -> None:
        async with risk_registry(resolved) as (_, risk):
            await risk.set_profile(VendorId(vendor_id), record, actor(), datetime.now(UTC))

    run_with_settings(config, work)
    typer.echo(f"profile of {vendor_id} updated")


def suspend(
    vendor_id: VendorArg,
    reason: Annotated[str, typer.Option(help="Why (kept in the registry; not shown to the vendor).")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Suspend the vendor: its clients' tokens are revoked and every node refuses it within seconds."""

    async def work(resolved: ResolvedSettings) -> None:
        async with risk_registry(resolved) as (_, risk):
            await risk.suspend(
                check_vendor_id(vendor_id), check_name(reason, "reason"), actor(), datetime.now(UTC)
            )

    run_with_settings(config, work)
    typer.echo(f"suspended vendor {vendor_id}")


def reinstate(
    vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """Lift a suspension (and an open incident's hold); the vendor's clients get new tokens."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (_, risk):
            await risk.reinstate(check_vendor_id(vendor_id), actor(), datetime.now(UTC))
            posture = await standing_of(risk, resolved.settings.vendors, VendorId(vendor_id))
        return {"id": vendor_id, **posture.as_dict()}

    emit(run_with_settings(config, work), as_json, render_standing)


def webhook_secret(vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml")) -> None:
    """Make a new secret for the vendor's signed incident webhook (the old one stops working); shown once."""

    async def work(resolved: ResolvedSettings) -> str:
        async with migrated_database(resolved) as db:
            await required_vendor(db, check_vendor_id(vendor_id))
            keyring = await open_keyring(db, resolved)
            secret = await new_webhook_secret(SqlSecretStore(db, keyring), vendor_id)
            rotated = AuditEvent(
                Kind.security, "vendor.webhook.secret", datetime.now(UTC).timestamp(),
                vendor_id=vendor_id, reason="webhook secret replaced", rules={"actor": actor()},
            )  # fmt: skip
            await (await store_sink(db, keyring))(rotated)
            return secret

    typer.echo(run_with_settings(config, work))


def export_vendors(
    out: Annotated[Path, typer.Argument(help="The YAML file to write (owner-only: it holds contacts).")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Write the vendor registry (profiles, evidence, agreements, assessments) as YAML."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (db, risk):
            return await export_registry(SqlVendorRegistry(db), risk)

    document = run_with_settings(config, work)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        typer.echo(f"phigate: {out}: cannot be written ({exc.strerror})", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(document['vendors'])} vendor(s) written to {out}")


def import_vendors(
    source: Annotated[Path, typer.Argument(help="A YAML file written by `phigate vendor export`.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Add the file's vendors, evidence, agreements and assessments that are not yet registered."""
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        typer.echo(f"phigate: {source}: not a readable YAML file", err=True)
        raise typer.Exit(1) from None

    async def work(resolved: ResolvedSettings) -> dict[str, int]:
        now = datetime.now(UTC)
        items = parse_registry(document, now)  # every record checked before the first write
        async with risk_registry(resolved) as (db, risk):
            return await import_registry(items, SqlVendorRegistry(db), risk, actor(), now)

    emit(
        run_with_settings(config, work),
        as_json,
        lambda added: ", ".join(f"{v} {k} added" for k, v in added.items()),
    )


def render_standing(view: dict[str, Any]) -> str:
    lines = [f"vendor {view['id']}: {view['standing']}"]
    lines += [f"  - {reason}" for reason in view["reasons"]]
    lines += [f"  ! {warning}" for warning in view["warnings"]]
    return "\n".join(lines)
