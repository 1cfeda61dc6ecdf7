"""``phigate vendor report`` and ``reminders``: a vendor's whole standing, and the notices that are due."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendor_notices import SqlVendorNotices
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_usage import SqlAuditUsage
from phigate.cli.notices import reminders_view, render_reminders
from phigate.cli.output import emit, fail
from phigate.cli.store import ConfigOption, JsonOption, migrated_database, open_keyring, run_with_settings
from phigate.cli.vendor_lifecycle import lifecycle_view
from phigate.cli.vendor_records import render_standing, vendor_view
from phigate.cli.vendor_registry import VendorArg, required_vendor, risk_registry
from phigate.settings import ResolvedSettings
from phigate.types import VendorId
from phigate.vendors.posture import evaluate
from phigate.vendors.report import render_html, vendor_report
from phigate.vendors.reviews import review_period_start


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
    emit(result, as_json, lambda r: render_standing({"id": vendor_id, **r["posture"]}))


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
            keyring = await open_keyring(db, resolved)
            return await reminders_view(resolved, db, keyring, datetime.now(UTC), send=send)

    view = run_with_settings(config, work)
    emit(view, as_json, render_reminders)
    if view["failed"]:
        fail(
            f"{len(view['failed'])} notice(s) could not be sent; they stay due: {view['failed'][0]['reason']}"
        )
