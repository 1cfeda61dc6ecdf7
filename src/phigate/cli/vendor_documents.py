"""``phigate vendor evidence``, ``agreement`` and ``assess``: what a vendor shows, signs and answers.

A document's file, if given, is stored encrypted with its SHA-256; a withdrawn item stays in the trail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql.vendor_evidence import new_id, sha256_hex
from phigate.cli.inputs import day, yaml_answers
from phigate.cli.output import emit, table
from phigate.cli.store import ConfigOption, JsonOption, run_with_settings
from phigate.cli.vendor_registry import Many, VendorArg, actor, require_registered, risk_registry, standing_of
from phigate.settings import ResolvedSettings
from phigate.types import VendorId
from phigate.vendors.agreements import MANDATORY_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.evidence import Attachment, Evidence, EvidenceKind, valid_until
from phigate.vendors.records import RegistrationError, check_vendor_id

evidence_app = typer.Typer(no_args_is_help=True, help="Evidence: SOC 2 Type II, ISO 27001, pen tests.")
agreement_app = typer.Typer(no_args_is_help=True, help="Agreements: HIPAA BAA, GDPR DPA, data sharing.")
FileOption = Annotated[
    Path | None, typer.Option("--file", help="The signed document or report (stored encrypted, hashed).")
]


def read_document(path: Path | None) -> tuple[bytes | None, str | None]:
    if path is None:
        return None, None
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise RegistrationError("file", f"cannot be read ({exc.strerror})") from None
    return content, sha256_hex(content)


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
            await require_registered(risk, item.vendor_id)
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
            await require_registered(risk, VendorId(vendor_id))
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

    emit(run_with_settings(config, work), as_json, table(("id", "label", "valid_until")))


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
            await require_registered(risk, item.vendor_id)
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
            await require_registered(risk, VendorId(vendor_id))
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

    emit(run_with_settings(config, work), as_json, table(("id", "label", "valid_until")))


@agreement_app.command("remove")
def agreement_remove(
    vendor_id: VendorArg,
    item_id: Annotated[str, typer.Argument(help="The agreement id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Withdraw an agreement (kept in the trail; no longer counts)."""
    _remove(vendor_id, item_id, config)


def assess_vendor(
    vendor_id: VendorArg,
    answers: Annotated[Path, typer.Option("--answers", help="YAML mapping: question id -> answer.")],
    assessor: Annotated[str, typer.Option(help="Who assessed the vendor.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Score the security questionnaire into a risk rating with reasons; sets the next review date."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        given = yaml_answers(answers)
        item = assess(new_id("as"), check_vendor_id(vendor_id), given, assessor, datetime.now(UTC))
        async with risk_registry(resolved) as (_, risk):
            await require_registered(risk, item.vendor_id)
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


def _remove(vendor_id: str, item_id: str, config: Path) -> None:
    async def work(resolved: ResolvedSettings) -> str:
        async with risk_registry(resolved) as (_, risk):
            await risk.documents.remove(VendorId(vendor_id), item_id, actor(), datetime.now(UTC))
            return (await standing_of(risk, resolved.settings.vendors, VendorId(vendor_id))).standing.value

    standing = run_with_settings(config, work)
    typer.echo(f"removed {item_id}; standing {standing}")
