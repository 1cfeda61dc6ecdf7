"""``phigate audit``: verify the trail, search it, export FHIR AuditEvents, account for disclosures.

Reading the trail needs the configuration (the store) and the master key (the
checkpoint key is kept encrypted: a store altered by someone without that key
cannot produce a checkpoint that verifies).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from phigate.adapters.sql.audit import AuditQuery, SqlAuditStore, append_now
from phigate.adapters.sql.audit_retention import SqlRetention
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.audit.balp import audit_events
from phigate.audit.chain import ChainedEvent, ChainVerifier, Finding
from phigate.audit.disclosures import accounting, as_bundle, as_csv, as_html, summarised
from phigate.audit.events import AuditEvent, Kind
from phigate.cli.audit_access import cli_node as _cli_node
from phigate.cli.audit_access import iso as _iso
from phigate.cli.audit_access import opened as _opened
from phigate.cli.audit_access import when as _when
from phigate.cli.audit_retention import forward, hold_app, purge
from phigate.cli.output import emit, fail
from phigate.cli.store import ConfigOption, JsonOption, run_with_settings
from phigate.guard.resource_validation import validate_resource
from phigate.settings import ResolvedSettings
from phigate.types import ClientId
from phigate.vendors.clients import ClientStatus

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail and disclosures.")
audit_app.add_typer(hold_app, name="hold")  # retention (issue 8 follow-up)
audit_app.command()(purge)
audit_app.command()(forward)


@audit_app.command()
def verify(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Check every stored event's hash, link and order and every signed checkpoint; name the first break.

    Exits 1 when an event was altered, removed or reordered, or a checkpoint does not verify.
    """

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _opened(resolved) as (db, keys):
            store = SqlAuditStore(db)
            checkpoints = await store.checkpoints()
            marks = await SqlRetention(db).marks()  # retention purges move each chain's start
            verifier = ChainVerifier(
                checkpoints,
                lambda c: keys.verify(c.key_id, c.message(), c.signature),
                marks,
                lambda m: keys.verify(m.key_id, m.message(), m.signature),
            )
            total = await store.count()
            with _progress(as_json) as progress:
                task = progress.add_task("verifying audit events", total=total)
                async for row in store.stream():
                    verifier.feed(row)
                    progress.advance(task)
            findings = verifier.finish()
        return _verdict(verifier.counted, len(checkpoints), findings)

    result = run_with_settings(config, work)
    emit(result, as_json, _render_verdict)
    if not result["valid"]:
        raise typer.Exit(1)


def _progress(quiet: bool) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=True), disable=quiet or not sys.stderr.isatty())


def _verdict(events: int, checkpoints: int, findings: list[Finding]) -> dict[str, Any]:
    return {
        "valid": not findings,
        "events": events,
        "checkpoints": checkpoints,
        "findings": [
            {"node": f.node, "event": f.seq, "problem": f.problem, "detail": f.detail, "text": f.describe()}
            for f in findings
        ],
    }


def _render_verdict(result: dict[str, Any]) -> str:
    head = f"{result['events']} event(s), {result['checkpoints']} checkpoint(s): "
    if result["valid"]:
        return head + "the audit trail is intact"
    return head + "TAMPERED\n" + "\n".join(f"  - {f['text']}" for f in result["findings"])


def _query(
    patient: str | None, client: str | None, vendor: str | None, since: str | None, until: str | None,
    outcome: str | None, kind: str | None, limit: int,
) -> AuditQuery:  # fmt: skip
    return AuditQuery(patient, client, vendor, _when(since), _when(until), outcome, kind, limit)


PatientOpt = Annotated[str | None, typer.Option("--patient", help="Events that disclosed this patient.")]
ClientOpt = Annotated[str | None, typer.Option("--client", help="A client id.")]
VendorOpt = Annotated[str | None, typer.Option("--vendor", help="A vendor id.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this ISO date-time (UTC if no zone).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Before this ISO date-time.")]
OutcomeOpt = Annotated[str | None, typer.Option("--outcome", help="ok, failed, or an error code.")]
KindOpt = Annotated[str | None, typer.Option("--kind", help="exchange, security, alert or reaction.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1_000_000)]


async def _search(resolved: ResolvedSettings, query: AuditQuery) -> list[ChainedEvent]:
    async with _opened(resolved) as (db, _):
        return await SqlAuditStore(db).search(query)


@audit_app.command()
def search(
    config: ConfigOption = Path("phigate.yaml"), patient: PatientOpt = None, client: ClientOpt = None,
    vendor: VendorOpt = None, since: SinceOpt = None, until: UntilOpt = None, outcome: OutcomeOpt = None,
    kind: KindOpt = None, limit: LimitOpt = 100, as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Audit events by patient, client, vendor, time and outcome, oldest first."""
    query = _query(patient, client, vendor, since, until, outcome, kind, limit)
    found = run_with_settings(config, lambda resolved: _search(resolved, query))
    payload = [{"node": e.node, "seq": e.seq, **e.event} for e in found]
    if as_json:
        emit(payload, True, str)
        return
    table = Table("time", "kind", "action", "client", "vendor", "status", "outcome", "patients", "request id")
    for row in payload:
        table.add_row(_iso(row["recorded"]), row["kind"], row["action"], row.get("client_id") or "",
                      row.get("vendor_id") or "", str(row.get("status") or ""), row["outcome"],
                      ", ".join(row.get("patients") or []), row.get("request_id") or "")  # fmt: skip
    Console().print(table)


@audit_app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="The NDJSON file to write ('-': stdout).")],
    config: ConfigOption = Path("phigate.yaml"), patient: PatientOpt = None, client: ClientOpt = None,
    vendor: VendorOpt = None, since: SinceOpt = None, until: UntilOpt = None, outcome: OutcomeOpt = None,
    kind: KindOpt = None, limit: LimitOpt = 100_000,
) -> None:  # fmt: skip
    """Export events as FHIR R4 AuditEvent resources (IHE BALP), one per line, each validated first."""
    query = _query(patient, client, vendor, since, until, outcome, kind, limit)
    found = run_with_settings(config, lambda resolved: _search(resolved, query))
    lines = []
    for stored in found:
        for resource in audit_events(stored):
            issues = validate_resource(resource, expected_type="AuditEvent")
            if issues:
                fail(
                    f"event {stored.node}#{stored.seq} does not make a valid AuditEvent: {issues[0].message}"
                )
            lines.append(orjson.dumps(resource) + b"\n")
    data = b"".join(lines)
    if str(out) == "-":
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        typer.echo(f"{len(lines)} AuditEvent(s) written to {out}", err=True)


Format = Annotated[str, typer.Option("--format", help="table, csv, bundle (FHIR) or html (a letter).")]


@audit_app.command()
def disclosures(
    patient: Annotated[str, typer.Option("--patient", help="The patient's id.")],
    config: ConfigOption = Path("phigate.yaml"),
    output_format: Format = "table",
    summary: Annotated[bool, typer.Option("--summary", help="Collapse repeated disclosures.")] = False,
    name: Annotated[str, typer.Option("--name", help="The patient's name, for the letter.")] = "patient",
) -> None:
    """The accounting of disclosures (45 CFR 164.528) of one patient: six years back."""
    if output_format not in ("table", "csv", "bundle", "html"):
        fail("--format is one of table, csv, bundle, html")
    now = time.time()

    async def work(resolved: ResolvedSettings) -> tuple[list[ChainedEvent], dict[str, str]]:
        async with _opened(resolved) as (db, _):
            events = await SqlAuditStore(db).search(
                AuditQuery(patient=patient, kind="exchange", limit=1_000_000)
            )
            names = {str(v.id): v.name for v in await SqlVendorRegistry(db).list()}
        return events, names

    events, names = run_with_settings(config, work)
    entries = accounting(patient, events, now, names)
    entries = summarised(entries) if summary else entries
    if output_format == "csv":
        sys.stdout.write(as_csv(entries))
    elif output_format == "bundle":
        sys.stdout.write(
            orjson.dumps(as_bundle(patient, entries, now), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    elif output_format == "html":
        sys.stdout.write(as_html(name, entries, now))
    else:
        table = Table("date", "recipient", "what", "purpose", "times", "last")
        for entry in entries:
            table.add_row(*entry.row().values())
        Console().print(table)


@audit_app.command()
def alerts(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Alerts raised by the detectors, oldest first."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with _opened(resolved) as (db, _):
            return await SqlAuditStore(db).alerts()

    found = run_with_settings(config, work)
    emit(found, as_json, _render_alerts)


def _render_alerts(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{_iso(r['first_seen'])} {r['severity']:8} {r['detector']:18} {r['client_id'] or '-'}: "
        f"{r['explanation']}"
        for r in rows
    ]
    return "\n".join(lines) or "no alerts"


@audit_app.command()
def reinstate(
    client: Annotated[str, typer.Option("--client", help="The suspended client to make active again.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Undo a suspension (by a reaction or an operator); the reversal is itself audited."""

    async def work(resolved: ResolvedSettings) -> None:
        async with _opened(resolved) as (db, keys):
            stored = await SqlClientRegistry(db).set_status(ClientId(client), ClientStatus.active)
            event = AuditEvent(
                Kind.reaction, "client.reinstated", time.time(), client_id=stored.client_id,
                vendor_id=stored.vendor_id, reason=reason[:500], rules={"by": "operator"},
            )  # fmt: skip
            await append_now(SqlAuditStore(db), _cli_node(), event.record(), keys.signing)

    run_with_settings(config, work)
    typer.echo(f"client {client} is active again")
