"""``phigate vendor``: the third parties that own OAuth clients.

Every command opens the configured store and brings its schema up to date first
(migrations are idempotent and locked, so this is safe beside running nodes).
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml

from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.adapters.sql.vendor_evidence import journal, new_id, sha256_hex
from phigate.adapters.sql.vendor_notices import SqlVendorNotices
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk, VendorProfile
from phigate.adapters.sql.vendor_usage import SqlAuditUsage
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_audit import audit_changes, store_sink
from phigate.admin.vendor_lifecycle import (
    Notify,
    attestation_of_file,
    decide_subprocessor,
    offboard,
    propose_subprocessor,
    subprocessor_view,
)
from phigate.admin.vendor_registry_file import export_registry, import_registry, parse_registry
from phigate.admin.vendor_webhook import new_webhook_secret
from phigate.audit.events import AuditEvent, Kind
from phigate.cli.notices import cli_sender, reminders_view, render_reminders
from phigate.cli.output import emit, fail, reported_errors
from phigate.errors import PhigateError
from phigate.monitor.detectors import Alert
from phigate.settings import ResolvedSettings, load_settings
from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.agreements import MANDATORY_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import Attachment, Evidence, EvidenceKind, add_months, valid_until
from phigate.vendors.incidents import Incident
from phigate.vendors.posture import Posture, evaluate
from phigate.vendors.records import (
    NotRegistered,
    RegistrationError,
    Vendor,
    check_name,
    check_vendor_id,
    vendor_slug,
)
from phigate.vendors.report import render_html, vendor_report
from phigate.vendors.reviews import review_period_start

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
        async with risk_registry(resolved) as (db, risk):
            vendor = await required_vendor(db, VendorId(vendor_id))
            clients = await SqlClientRegistry(db).list(vendor.id)
            posture = await standing_of(risk, resolved.settings.vendors, vendor.id)
            profile = await risk.profile(vendor.id)
            view = vendor_view(vendor, [c.client_id for c in clients])
            return view | profile.public() | {k: v for k, v in posture.as_dict().items() if k != "factors"}

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


# --- risk management (issue 9): evidence, agreements, assessments, incidents, suspension, report ---------

evidence_app = typer.Typer(no_args_is_help=True, help="Evidence: SOC 2 Type II, ISO 27001, pen tests.")
agreement_app = typer.Typer(no_args_is_help=True, help="Agreements: HIPAA BAA, GDPR DPA, data sharing.")
incident_app = typer.Typer(no_args_is_help=True, help="Vendor security incidents and their clocks.")
vendor_app.add_typer(evidence_app, name="evidence")
vendor_app.add_typer(agreement_app, name="agreement")
vendor_app.add_typer(incident_app, name="incident")

VendorArg = Annotated[str, typer.Argument(help="The vendor id.")]
FileOption = Annotated[
    Path | None, typer.Option("--file", help="The signed document or report (stored encrypted, hashed).")
]
Many = Annotated[list[str] | None, typer.Option()]


def actor() -> str:
    """Who made a registry change, for its trail: the operating-system user running the CLI."""
    return f"cli:{getpass.getuser()}"


@asynccontextmanager
async def risk_registry(resolved: ResolvedSettings) -> AsyncIterator[tuple[Database, SqlVendorRisk]]:
    """The migrated store and the vendor risk registry, its sealed columns opened with the master key."""
    async with migrated_database(resolved) as db:
        keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
        with journal() as changes:  # every change the command makes goes to the audit trail once it is done
            yield db, SqlVendorRisk(db, keyring)
        if changes:
            await audit_changes(await store_sink(db, keyring), changes)


def day(value: str | None, where: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RegistrationError(where, "give a date as YYYY-MM-DD") from None


def moment(value: str | None, where: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RegistrationError(where, "give a time as YYYY-MM-DDTHH:MM[:SS][+00:00]") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def read_document(path: Path | None) -> tuple[bytes | None, str | None]:
    if path is None:
        return None, None
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise RegistrationError("file", f"cannot be read ({exc.strerror})") from None
    return content, sha256_hex(content)


async def standing_of(risk: SqlVendorRisk, rules: VendorSettings, vendor_id: VendorId) -> Posture:
    return evaluate(await risk.dossier(vendor_id), rules, datetime.now(UTC))


@vendor_app.command("profile")
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


@evidence_app.command("add")
def evidence_add(
    vendor_id: VendorArg,
    kind: Annotated[EvidenceKind, typer.Option(help="soc2_type2, iso27001 or pentest.")],
    issuer: Annotated[str, typer.Option(help="Auditor, certification body or tester.")],
    period_start: Annotated[str | None, typer.Option(help="SOC 2: first day of the period.")] = None,
    period_end: Annotated[str | None, typer.Option(help="SOC 2: last day of the period.")] = None,
    bridge_until: Annotated[str | None, typer.Option(help="SOC 2: bridge letter end.")] = None,
    exceptions: Annotated[int, typer.Option(help="SOC 2: exceptions noted.")] = 0,
    number: Annotated[str | None, typer.Option(help="ISO 27001: certificate number.")] = None,
    expires_on: Annotated[str | None, typer.Option(help="ISO 27001: expiry date.")] = None,
    performed_on: Annotated[str | None, typer.Option(help="Pen test: date performed.")] = None,
    open_findings: Annotated[int, typer.Option(help="Pen test: open critical/high findings.")] = 0,
    file: FileOption = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Record a piece of evidence (the file, if given, is stored encrypted with its SHA-256)."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        content, digest = read_document(file)
        attachment = None
        if content is not None and digest is not None and file is not None:
            attachment = Attachment(file.name, digest, len(content))
        item = Evidence(
            id=new_id("ev"),
            vendor_id=check_vendor_id(vendor_id),
            kind=kind,
            recorded_at=datetime.now(UTC),
            issuer=issuer,
            period_start=day(period_start, "period_start"),
            period_end=day(period_end, "period_end"),
            bridge_until=day(bridge_until, "bridge_until"),
            exceptions=exceptions,
            number=number,
            expires_on=day(expires_on, "expires_on"),
            performed_on=day(performed_on, "performed_on"),
            open_findings=open_findings,
            attachment=attachment,
        )
        async with risk_registry(resolved) as (_, risk):
            await _require(risk, item.vendor_id)
            await risk.documents.add_evidence(item, content, actor())
            posture = await standing_of(risk, resolved.settings.vendors, item.vendor_id)
        return {"id": item.id, "label": item.label, "sha256": digest, "standing": posture.standing.value}

    emit(
        run_with_settings(config, work),
        as_json,
        lambda v: f"recorded {v['label']} as {v['id']}; standing {v['standing']}",
    )


@evidence_app.command("list")
def evidence_list(
    vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """The vendor's current evidence and when each item stops counting."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with risk_registry(resolved) as (_, risk):
            await _require(risk, VendorId(vendor_id))
            items = await risk.documents.evidence(VendorId(vendor_id))
        rules = resolved.settings.vendors
        return [
            {
                "id": e.id,
                "label": e.label,
                "issuer": e.issuer,
                "valid_until": valid_until(
                    e, soc2_valid_months=rules.soc2_valid_months, pentest_valid_days=rules.pentest_valid_days
                ).isoformat(),
            }
            for e in items
        ]

    emit(run_with_settings(config, work), as_json, _render_rows(("id", "label", "valid_until")))


@evidence_app.command("remove")
def evidence_remove(
    vendor_id: VendorArg,
    item_id: Annotated[str, typer.Argument(help="The evidence id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Withdraw a piece of evidence (kept in the trail; no longer counts)."""
    _remove(vendor_id, item_id, config)


@agreement_app.command("add")
def agreement_add(
    vendor_id: VendorArg,
    kind: Annotated[AgreementKind, typer.Option(help="baa, dpa or dsa.")],
    valid_from: Annotated[str, typer.Option(help="First day in force (YYYY-MM-DD).")],
    valid_until: Annotated[str, typer.Option(help="Last day in force (YYYY-MM-DD).")],
    clause: Annotated[
        list[str] | None, typer.Option(help="A ticked clause (repeat); see --all-clauses.")
    ] = None,
    all_clauses: Annotated[
        bool, typer.Option(help="Every mandatory clause of this kind is present.")
    ] = False,
    breach_notice_hours: Annotated[int | None, typer.Option(help="Breach-notification window.")] = None,
    purpose: Many = None,
    data_category: Many = None,
    security_clause: Many = None,
    file: FileOption = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Record an agreement; a BAA or DPA missing a mandatory clause is refused."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        content, digest = read_document(file)
        ticked = set(MANDATORY_CLAUSES[kind]) if all_clauses else set(clause or ())
        start, end = day(valid_from, "valid_from"), day(valid_until, "valid_until")
        assert start is not None and end is not None
        item = Agreement(
            id=new_id("ag"),
            vendor_id=check_vendor_id(vendor_id),
            kind=kind,
            valid_from=start,
            valid_until=end,
            recorded_at=datetime.now(UTC),
            clauses=frozenset(ticked),
            breach_notice_hours=breach_notice_hours,
            purposes=tuple(purpose or ()),
            data_categories=tuple(data_category or ()),
            security_clauses=tuple(security_clause or ()),
            file_sha256=digest,
        )
        rules = resolved.settings.vendors
        async with risk_registry(resolved) as (_, risk):
            await _require(risk, item.vendor_id)
            await risk.documents.add_agreement(item, content, actor())
            posture = await standing_of(risk, rules, item.vendor_id)
        flagged = item.notice_too_slow(rules.max_breach_notice_hours)
        return {
            "id": item.id,
            "label": item.label,
            "breach_notice_flagged": flagged,
            "standing": posture.standing.value,
        }

    def render(view: dict[str, Any]) -> str:
        warning = (
            "\nwarning: the breach-notice window exceeds vendors.max_breach_notice_hours"
            if view["breach_notice_flagged"]
            else ""
        )
        return f"recorded {view['label']} as {view['id']}; standing {view['standing']}{warning}"

    emit(run_with_settings(config, work), as_json, render)


@agreement_app.command("list")
def agreement_list(
    vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """The vendor's agreements and their dates."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with risk_registry(resolved) as (_, risk):
            await _require(risk, VendorId(vendor_id))
            items = await risk.documents.agreements(VendorId(vendor_id))
        return [
            {
                "id": a.id,
                "label": a.label,
                "valid_from": a.valid_from.isoformat(),
                "valid_until": a.valid_until.isoformat(),
                "breach_notice_hours": a.breach_notice_hours,
            }
            for a in items
        ]

    emit(run_with_settings(config, work), as_json, _render_rows(("id", "label", "valid_until")))


@agreement_app.command("remove")
def agreement_remove(
    vendor_id: VendorArg,
    item_id: Annotated[str, typer.Argument(help="The agreement id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Withdraw an agreement (kept in the trail; no longer counts)."""
    _remove(vendor_id, item_id, config)


@vendor_app.command("assess")
def assess_vendor(
    vendor_id: VendorArg,
    answers: Annotated[Path, typer.Option("--answers", help="YAML mapping: question id -> answer.")],
    assessor: Annotated[str, typer.Option(help="Who assessed the vendor.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Score the security questionnaire into a risk rating with reasons; sets the next review date."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        given = _answers(answers)
        item = assess(new_id("as"), check_vendor_id(vendor_id), given, assessor, datetime.now(UTC))
        async with risk_registry(resolved) as (_, risk):
            await _require(risk, item.vendor_id)
            await risk.add_assessment(item, actor())
        return {
            "id": item.id,
            "score": item.rating.score,
            "band": item.rating.band.value,
            "reasons": list(item.rating.reasons),
            "review_due": item.review_due.isoformat(),
        }

    def render(view: dict[str, Any]) -> str:
        lines = [f"{view['band']} risk (score {view['score']}); next review due {view['review_due']}"]
        return "\n".join(lines + [f"  - {reason}" for reason in view["reasons"]])

    emit(run_with_settings(config, work), as_json, render)


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
            item = (await risk.incident(incident_id)).closed(_answers(assessment), now)
            await risk.update_incident(item, actor(), "incident.close", now)

    run_with_settings(config, work)
    typer.echo(f"incident {incident_id} closed")


@vendor_app.command("suspend")
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


@vendor_app.command("reinstate")
def reinstate(
    vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """Lift a suspension (and an open incident's hold); the vendor's clients get new tokens."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (_, risk):
            await risk.reinstate(check_vendor_id(vendor_id), actor(), datetime.now(UTC))
            posture = await standing_of(risk, resolved.settings.vendors, VendorId(vendor_id))
        return {"id": vendor_id, **posture.as_dict()}

    emit(run_with_settings(config, work), as_json, _render_standing)


@vendor_app.command("webhook-secret")
def webhook_secret(vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml")) -> None:
    """Make a new secret for the vendor's signed incident webhook (the old one stops working); shown once."""

    async def work(resolved: ResolvedSettings) -> str:
        async with migrated_database(resolved) as db:
            await required_vendor(db, check_vendor_id(vendor_id))
            keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
            secret = await new_webhook_secret(SqlSecretStore(db, keyring), vendor_id)
            rotated = AuditEvent(
                Kind.security, "vendor.webhook.secret", datetime.now(UTC).timestamp(),
                vendor_id=vendor_id, reason="webhook secret replaced", rules={"actor": actor()},
            )  # fmt: skip
            await (await store_sink(db, keyring))(rotated)
            return secret

    typer.echo(run_with_settings(config, work))


@vendor_app.command("export")
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


@vendor_app.command("import")
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


# --- sub-processor changes (A.4) and offboarding (A.11): use cases in phigate.admin.vendor_lifecycle -------

subprocessor_app = typer.Typer(no_args_is_help=True, help="Sub-processors and their pending changes (A.4).")
vendor_app.add_typer(subprocessor_app, name="subprocessor")
ChangeArg = Annotated[str, typer.Argument(help="The change id (see `phigate vendor subprocessor list`).")]


def lifecycle_view(dossier: Dossier) -> dict[str, Any]:
    off = dossier.offboarding
    offboarding = None if off is None else {
        "attestation": off.id, "disposition": off.disposition.value, "signed_by": off.signed_by,
        "signed_on": off.signed_on.isoformat(), "recorded_at": off.recorded_at.isoformat(),
        "file_sha256": off.document.sha256,
    }  # fmt: skip
    return {
        "subprocessors": [subprocessor_view(s) for s in dossier.subprocessors],
        "offboarding": offboarding,
    }


async def controller_notice(resolved: ResolvedSettings, db: Database) -> tuple[Notify, list[str]]:
    """The alert sinks of ``audit.*``, awaited; a failure is collected, not raised: the change stands."""
    keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
    send, failed = await cli_sender(resolved, db, keyring), []

    async def notify(alert: Alert) -> None:
        try:
            await send(alert)
        except PhigateError as exc:
            failed.append(exc.message)

    return notify, failed


@subprocessor_app.command("add")
def subprocessor_add(
    vendor_id: VendorArg,
    name: Annotated[str, typer.Option(help="The sub-processor's name.")],
    service: Annotated[str, typer.Option(help="What it does for the vendor.")],
    data_category: Annotated[list[str], typer.Option(help="Data it receives, such as lab-results (repeat).")],
    location: Annotated[list[str], typer.Option(help="Where it processes data: US, DE, EU... (repeat).")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Propose a sub-processor (or new terms for a listed one): the controller is notified, the objection
    window opens, and the vendor is pending_review (access held as it is) until approved or objected to."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (db, risk):
            notify, failed = await controller_notice(resolved, db)
            item = await propose_subprocessor(
                risk, resolved.settings.vendors, notify, vendor_id, name=name, service=service,
                data_categories=tuple(data_category), locations=tuple(location), actor=actor(),
                now=datetime.now(UTC),
            )  # fmt: skip
            posture = await standing_of(risk, resolved.settings.vendors, item.vendor_id)
        return {**subprocessor_view(item), "standing": posture.standing.value, "notice_failed": failed}

    def render(v: dict[str, Any]) -> str:
        window = f"objection window ends {v['objection_until']}"
        return f"{v['id']}: {v['name']} {v['change']}, pending approval ({window}); standing {v['standing']}"

    view = run_with_settings(config, work)
    emit(view, as_json, render)
    for reason in view["notice_failed"]:
        typer.echo(f"phigate: warning: the controller was not notified: {reason}", err=True)


@subprocessor_app.command("list")
def subprocessor_list(
    vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """The vendor's sub-processors and every change to them."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with risk_registry(resolved) as (_, risk):
            await _require(risk, check_vendor_id(vendor_id))
            return [subprocessor_view(item) for item in await risk.subprocessors.list(VendorId(vendor_id))]

    columns = ("id", "status", "change", "name", "service", "locations", "objection_until")
    emit(run_with_settings(config, work), as_json, _render_rows(columns))


def _decide(vendor_id: str, change_id: str, approve: bool, reason: str, config: Path, as_json: bool) -> None:
    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (_, risk):
            item = await decide_subprocessor(risk, vendor_id, change_id, approve=approve, actor=actor(),
                                             now=datetime.now(UTC), reason=reason)  # fmt: skip
            posture = await standing_of(risk, resolved.settings.vendors, item.vendor_id)
        return {**subprocessor_view(item), "standing": posture.standing.value}

    emit(run_with_settings(config, work), as_json,
         lambda v: f"{v['id']} {v['status']}; vendor {v['vendor_id']} standing {v['standing']}")  # fmt: skip


@subprocessor_app.command("approve")
def subprocessor_approve(
    vendor_id: VendorArg, change_id: ChangeArg, config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Approve a pending change: its terms go on the list and the hold on access is lifted."""
    _decide(vendor_id, change_id, True, "", config, as_json)


@subprocessor_app.command("object")
def subprocessor_object(
    vendor_id: VendorArg, change_id: ChangeArg,
    reason: Annotated[str, typer.Option(help="Why the controller objects (kept in the registry).")],
    config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Object to a pending change: the vendor may not engage the sub-processor on those terms."""
    _decide(vendor_id, change_id, False, reason, config, as_json)


@vendor_app.command("offboard")
def offboard_vendor(
    vendor_id: VendorArg,
    attestation: Annotated[Path | None, typer.Option(help="The signed return-or-destroy file.")] = None,
    disposition: Annotated[str, typer.Option(help="returned, destroyed or both.")] = "destroyed",
    signed_by: Annotated[str, typer.Option(help="Who signed it for the vendor (name, role).")] = "",
    signed_on: Annotated[str | None, typer.Option(help="When it was signed (default: today).")] = None,
    reason: Annotated[str, typer.Option(help="Why the relationship ends (registry only).")] = "",
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Terminate the vendor (final): refused without the attestation; its tokens are revoked, its clients
    disabled and its agreements ended at once."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        now = datetime.now(UTC)
        try:
            content = attestation.read_bytes() if attestation is not None else None
        except OSError as exc:
            raise RegistrationError("attestation", f"cannot be read ({exc.strerror})") from None
        chosen = "returned_and_destroyed" if disposition == "both" else disposition
        signed = attestation_of_file(
            check_vendor_id(vendor_id), disposition=chosen, signed_by=signed_by,
            signed_on=day(signed_on, "signed_on") or now.date(), file_name=attestation.name, content=content,
            reason=reason, now=now,
        ) if attestation is not None and content is not None else None  # fmt: skip
        async with risk_registry(resolved) as (_, risk):
            return await offboard(risk, vendor_id, signed, content, actor())

    emit(run_with_settings(config, work), as_json,
         lambda v: f"vendor {v['id']} terminated ({v['attestation']}, sha256 {v['file_sha256'][:12]}…): "
                   f"{v['clients_disabled']} client(s) disabled, tokens revoked")  # fmt: skip


@vendor_app.command("report")
def report(
    vendor_id: VendorArg,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as HTML here.")
    ] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """The vendor's report: posture and reasons, evidence, assessment, clients, traffic, denials,
    disclosures, alerts, incidents, last review."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with risk_registry(resolved) as (db, risk):
            vendor = await required_vendor(db, VendorId(vendor_id))
            dossier = await risk.dossier(vendor.id)
            clients = await SqlClientRegistry(db).list(vendor.id)
            profile = await risk.profile(vendor.id)
            trail, client_ids = SqlAuditUsage(db), [c.client_id for c in clients]
            since = review_period_start(now, resolved.settings.vendors.review_unused_days)
            return vendor_report(
                vendor={
                    **vendor_view(vendor, [c.client_id for c in clients]),
                    **profile.public(),
                    **lifecycle_view(dossier),  # sub-processors and their changes; offboarding (A.4, A.11)
                },
                dossier=dossier,
                posture=evaluate(dossier, resolved.settings.vendors, now),
                rules=resolved.settings.vendors,
                clients=clients,
                uses=await trail.uses(since, client_ids),
                refusals=await trail.refusals(since, client_ids),
                disclosures=await trail.disclosures(since, client_ids),
                events=[
                    {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "detail": e.detail}
                    for e in await risk.events(vendor.id)
                ],
                reviews=await SqlAccessReviews(db).list(),
                notices=await SqlVendorNotices(db).sent(),
                now=now,
            )

    result = run_with_settings(config, work)
    if html_out is not None:
        html_out.write_text(render_html(result), encoding="utf-8")
    emit(result, as_json, lambda r: _render_standing({"id": vendor_id, **r["posture"]}))


@vendor_app.command("reminders")
def reminders_command(
    send: Annotated[
        bool, typer.Option("--send", help="Send what is due (each notice once; for cron).")
    ] = False,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Expiry reminders (BAA, DPA, certificates, contracts, assessments) and overdue reviews that are due."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
            return await reminders_view(resolved, db, keyring, datetime.now(UTC), send=send)

    view = run_with_settings(config, work)
    emit(view, as_json, render_reminders)
    if view["failed"]:
        fail(
            f"{len(view['failed'])} notice(s) could not be sent; they stay due: {view['failed'][0]['reason']}"
        )


# --- small helpers of the risk commands ---------------------------------------------------------------


async def _require(risk: SqlVendorRisk, vendor_id: VendorId) -> None:
    if not (await risk.dossier(vendor_id)).known:
        raise NotRegistered(f"No vendor '{vendor_id}' is registered (see `phigate vendor list`).")


def _remove(vendor_id: str, item_id: str, config: Path) -> None:
    async def work(resolved: ResolvedSettings) -> str:
        async with risk_registry(resolved) as (_, risk):
            await risk.documents.remove(VendorId(vendor_id), item_id, actor(), datetime.now(UTC))
            return (await standing_of(risk, resolved.settings.vendors, VendorId(vendor_id))).standing.value

    standing = run_with_settings(config, work)
    typer.echo(f"removed {item_id}; standing {standing}")


def _answers(path: Path) -> dict[str, str]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise RegistrationError(str(path.name), "cannot be read as YAML") from None
    if not isinstance(document, dict) or not all(isinstance(k, str) for k in document):
        raise RegistrationError(str(path.name), "must be a mapping of names to answers")
    return {key: str(value) for key, value in document.items()}


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


def _render_standing(view: dict[str, Any]) -> str:
    lines = [f"vendor {view['id']}: {view['standing']}"]
    lines += [f"  - {reason}" for reason in view["reasons"]]
    lines += [f"  ! {warning}" for warning in view["warnings"]]
    return "\n".join(lines)


def _render_rows(columns: tuple[str, ...]) -> Callable[[list[dict[str, Any]]], str]:
    def render(rows: list[dict[str, Any]]) -> str:
        return "\n".join("  ".join(str(row[c]) for c in columns) for row in rows) or "none"

    return render


# --- the demo's vendors in three standings (used by `phigate demo`) -------------------------------------

DEMO_GOOD_ANSWERS = {
    "certification": "both", "hipaa_compliance": "yes", "gdpr_compliance": "not_applicable", "tls": "1.3",
    "encryption_at_rest": "aes-256", "mfa": "yes", "access_control": "yes", "logging": "yes",
    "incident_response": "yes", "breach_notice": "yes", "subprocessors": "yes", "data_location": "contracted",
}  # fmt: skip


async def seed_demo_posture(resolved: ResolvedSettings) -> None:
    """Give the demo vendors their records once: Acme approved (SOC 2, BAA, low risk), MedBill with a SOC 2
    report that expired two months ago, Cohort Research with a current SOC 2 report but no BAA (answered
    de-identified), and the demo app's publisher approved (unmanaged vendors are refused by default)."""
    now = datetime.now(UTC)
    today = now.date()
    async with risk_registry(resolved) as (_, risk):
        for vendor_id, period_end, with_baa in (
            ("acme-diagnostics", add_months(today, -3), True),
            ("medbill", add_months(today, -14), True),
            ("cohort-research", add_months(today, -2), False),
            ("demo-apps", add_months(today, -3), True),
        ):
            vendor = VendorId(vendor_id)
            dossier = await risk.dossier(vendor)
            if not dossier.known or dossier.managed:
                continue
            await risk.documents.add_evidence(_demo_soc2(vendor, period_end, now), None, "demo")
            if with_baa:
                await risk.documents.add_agreement(_demo_baa(vendor, today, now), None, "demo")
            await risk.add_assessment(assess(new_id("as"), vendor, DEMO_GOOD_ANSWERS, "demo", now), "demo")


def _demo_soc2(vendor: VendorId, period_end: date, now: datetime) -> Evidence:
    return Evidence(
        id=new_id("ev"), vendor_id=vendor, kind=EvidenceKind.soc2_type2, recorded_at=now,
        issuer="Demo Assurance LLP", period_start=add_months(period_end, -12) + timedelta(days=1),
        period_end=period_end,
    )  # fmt: skip


def _demo_baa(vendor: VendorId, today: date, now: datetime) -> Agreement:
    clauses = frozenset(MANDATORY_CLAUSES[AgreementKind.baa])
    return Agreement(
        id=new_id("ag"), vendor_id=vendor, kind=AgreementKind.baa, valid_from=add_months(today, -12),
        valid_until=add_months(today, 24), recorded_at=now, clauses=clauses, breach_notice_hours=24,
    )  # fmt: skip
