"""``phigate audit hold|purge|forward``: legal holds, the retention purge, forwarding to a SIEM.

Each change (a hold added or removed, a purge) is itself an audit event; a
purge signs a mark so ``audit verify`` starts each chain after what it removed.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.kms.signing import CheckpointKey
from phigate.adapters.siem import SiemForwarder, SiemTarget
from phigate.adapters.sql.audit import SqlAuditStore, append_now
from phigate.adapters.sql.audit_retention import SqlRetention
from phigate.adapters.sql.database import Database
from phigate.audit.events import AuditEvent, Kind
from phigate.audit.retention import Hold, cutoff
from phigate.cli.audit_access import cli_node, iso, opened, when
from phigate.cli.output import emit, fail
from phigate.cli.store import ConfigOption, JsonOption, run_with_settings
from phigate.settings import Environment, ResolvedSettings

hold_app = typer.Typer(no_args_is_help=True, help="Legal holds: events a purge must keep.")
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]


async def _audited(db: Database, key: CheckpointKey | None, action: str, reason: str, **rules: Any) -> None:
    event = AuditEvent(
        Kind.security, action, time.time(), reason=reason[:500], rules=rules | {"by": "operator"}
    )
    await append_now(SqlAuditStore(db), cli_node(), event.record(), key)


@hold_app.command("add")
def hold_add(
    reason: ReasonOpt,
    patient: Annotated[
        str | None, typer.Option("--patient", help="Events that disclosed this patient.")
    ] = None,
    client: Annotated[str | None, typer.Option("--client", help="Events of this client.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Events from this ISO date-time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Events before this ISO date-time.")] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Keep the events matching every condition given, whatever their age, until the hold is removed."""
    try:
        hold = Hold(patient, client, when(since), when(until), reason[:500], created_at=time.time())
    except ValueError as exc:
        fail(str(exc))

    async def work(resolved: ResolvedSettings) -> Hold:
        async with opened(resolved) as (db, keys):
            added = await SqlRetention(db).add_hold(hold)
            await _audited(db, keys.signing, "audit.hold_added", reason, hold=added.id)
        return added

    emit(_hold_row(run_with_settings(config, work)), as_json, lambda row: f"legal hold {row['id']} added")


@hold_app.command("list")
def hold_list(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Every legal hold in force."""

    async def work(resolved: ResolvedSettings) -> list[Hold]:
        async with opened(resolved) as (db, _):
            return await SqlRetention(db).holds()

    rows = [_hold_row(h) for h in run_with_settings(config, work)]
    emit(rows, as_json, lambda found: "\n".join(_describe(r) for r in found) or "no legal holds")


@hold_app.command("remove")
def hold_remove(
    hold_id: Annotated[int, typer.Argument(help="The hold's id (see `hold list`).")],
    reason: ReasonOpt,
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """End a legal hold; its events become subject to retention again."""

    async def work(resolved: ResolvedSettings) -> Hold | None:
        async with opened(resolved) as (db, keys):
            removed = await SqlRetention(db).remove_hold(hold_id)
            if removed is not None:
                await _audited(db, keys.signing, "audit.hold_removed", reason, hold=hold_id)
        return removed

    if run_with_settings(config, work) is None:
        fail(f"no legal hold {hold_id}")
    typer.echo(f"legal hold {hold_id} removed")


def _hold_row(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "patient": hold.patient,
        "client": hold.client_id,
        "since": iso(hold.since) if hold.since is not None else None,
        "until": iso(hold.until) if hold.until is not None else None,
        "reason": hold.reason,
        "created": iso(hold.created_at),
    }


def _describe(row: dict[str, Any]) -> str:
    scope = ", ".join(f"{k} {row[k]}" for k in ("patient", "client", "since", "until") if row[k] is not None)
    return f"{row['id']:>4}  {scope}  ({row['reason']}, {row['created']})"


def purge(
    before: Annotated[
        str | None, typer.Option("--before", help="Remove events before this ISO date.")
    ] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Remove events older than audit.retention_days (or --before, if earlier), except legal holds.

    Each node's chain gets a signed purge mark, so `audit verify` still checks what is left.
    """
    now = time.time()

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        try:
            cut = cutoff(now, resolved.settings.audit.retention_days, when(before))
        except ValueError as exc:
            fail(str(exc))
        async with opened(resolved) as (db, keys):
            key = keys.signing
            if key is None:
                fail("no audit checkpoint key: start the gateway once so it creates one")
            marks = await SqlRetention(db).purge(cut, key)
            removed = sum(m.removed for m in marks)
            kept = sum(len(m.kept) for m in marks)
            await _audited(db, key, "audit.purged", f"retention cut-off {iso(cut)}", removed=removed,
                           held=kept, nodes=len(marks))  # fmt: skip
        return {"cutoff": iso(cut), "removed": removed, "held": kept, "nodes": [m.node for m in marks]}

    emit(run_with_settings(config, work), as_json, _render_purge)


def _render_purge(result: dict[str, Any]) -> str:
    removed, cut, held = result["removed"], result["cutoff"], result["held"]
    return f"{removed} event(s) before {cut} removed; {held} kept under legal hold"


def forward(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep forwarding new events until stopped.")
    ] = False,
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Send stored events not yet sent to the SIEM of audit.siem (RFC 5424 over TLS, or JSON lines)."""

    async def work(resolved: ResolvedSettings) -> int:
        s = resolved.settings
        if s.audit.siem is None:
            fail("audit.siem is not configured")
        target = SiemTarget.of(s.audit.siem, dev=s.environment is Environment.dev)
        async with opened(resolved) as (db, _):
            forwarder = SiemForwarder(SqlAuditStore(db), target, s.audit.siem)
            if not follow:
                try:
                    return await forwarder.forward()
                finally:
                    await forwarder.close()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):  # phigate runs on POSIX loops, as the node does
                loop.add_signal_handler(signum, stop.set)
            await forwarder.run(stop)
            return forwarder.sent

    typer.echo(f"{run_with_settings(config, work)} event(s) forwarded", err=True)
