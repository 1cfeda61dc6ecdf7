"""``phigate vendor incident``: vendor security incidents and their notification clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql.vendor_evidence import new_id
from phigate.cli.inputs import moment, yaml_answers
from phigate.cli.output import emit
from phigate.cli.store import ConfigOption, JsonOption, run_with_settings
from phigate.cli.vendor_registry import VendorArg, actor, risk_registry
from phigate.settings import ResolvedSettings
from phigate.types import VendorId
from phigate.vendors.dossier import Dossier
from phigate.vendors.incidents import Incident
from phigate.vendors.records import check_vendor_id

incident_app = typer.Typer(no_args_is_help=True, help="Vendor security incidents and their clocks.")


@incident_app.command("record")
def incident_record(
    vendor_id: VendorArg,
    summary: Annotated[str, typer.Option(help="What happened (no patient data).")],
    aware_at: Annotated[str | None, typer.Option(help="When we became aware (default: now).")] = None,
    jurisdiction: Annotated[list[str] | None, typer.Option(help="US, EU, AU, AU-MHR (repeat).")] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Record an incident: the vendor is suspended and its tokens revoked at once; clocks start."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        now = datetime.now(UTC)
        item = Incident(
            id=new_id("inc"),
            vendor_id=check_vendor_id(vendor_id),
            summary=summary,
            aware_at=moment(aware_at, "aware_at") if aware_at is not None else now,
            recorded_at=now,
            jurisdictions=frozenset(jurisdiction or ()),
        )
        async with risk_registry(resolved) as (_, risk):
            await risk.record_incident(item, actor())
            dossier = await risk.dossier(item.vendor_id)
        return _incident_view(item, dossier)

    emit(run_with_settings(config, work), as_json, _render_incident)


@incident_app.command("list")
def incident_list(
    vendor_id: Annotated[str | None, typer.Argument(help="Only this vendor's.")] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Incidents, with their clocks."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with risk_registry(resolved) as (_, risk):
            items = await risk.incidents(VendorId(vendor_id) if vendor_id else None)
            return [_incident_view(item, await risk.dossier(item.vendor_id)) for item in items]

    emit(
        run_with_settings(config, work),
        as_json,
        lambda views: "\n".join(map(_render_incident, views)) or "no incidents",
    )


@incident_app.command("notify")
def incident_notify(
    incident_id: Annotated[str, typer.Argument(help="The incident id.")],
    clock: Annotated[str, typer.Option(help="gdpr, hipaa, ndb, mhr or contract.")],
    at: Annotated[str | None, typer.Option(help="When the notice was given (default: now).")] = None,
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Record that a notification duty was met."""

    async def work(resolved: ResolvedSettings) -> None:
        async with risk_registry(resolved) as (_, risk):
            item = (await risk.incident(incident_id)).with_notice(clock, moment(at, "at"))
            await risk.update_incident(item, actor(), f"incident.notify.{clock}", datetime.now(UTC))

    run_with_settings(config, work)
    typer.echo(f"{clock} notice recorded for {incident_id}")


@incident_app.command("close")
def incident_close(
    incident_id: Annotated[str, typer.Argument(help="The incident id.")],
    assessment: Annotated[
        Path,
        typer.Option(
            help="YAML: nature_extent, unauthorized_recipient, "
            "acquired_or_viewed, mitigation, decision, remediation."
        ),
    ],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Close an incident with its risk assessment (refused while a field is missing)."""

    async def work(resolved: ResolvedSettings) -> None:
        now = datetime.now(UTC)
        async with risk_registry(resolved) as (_, risk):
            item = (await risk.incident(incident_id)).closed(yaml_answers(assessment), now)
            await risk.update_incident(item, actor(), "incident.close", now)

    run_with_settings(config, work)
    typer.echo(f"incident {incident_id} closed")


def _incident_view(item: Incident, dossier: Dossier) -> dict[str, Any]:
    hours = min((a.breach_notice_hours for a in dossier.agreements if a.breach_notice_hours), default=None)
    return {
        "id": item.id,
        "vendor_id": item.vendor_id,
        "summary": item.summary,
        "status": item.status.value,
        "aware_at": item.aware_at.isoformat(),
        "clocks": [
            {
                "name": c.name,
                "due_at": c.due_at.isoformat(),
                "duty": c.duty,
                "met_at": c.met_at.isoformat() if c.met_at else None,
            }
            for c in item.clocks(hours)
        ],
    }


def _render_incident(view: dict[str, Any]) -> str:
    lines = [f"incident {view['id']} ({view['vendor_id']}, {view['status']}): {view['summary']}"]
    lines += [
        f"  {c['name']:<9} due {c['due_at']}  {'met' if c['met_at'] else c['duty']}" for c in view["clocks"]
    ]
    return "\n".join(lines)
