"""``phigate review``: access-review campaigns over every client's scopes, with evidence of use.

``start`` lists each active client's registered scopes, the data contract that
applies to it and its use in the audit trail over the last
``vendors.review_unused_days`` (requests by resource type and interaction, last
use), and flags the scopes unused in that period; ``decide`` keeps or revokes one
scope: a revocation narrows the client's registered scopes at once (new tokens
lack it; gateway nodes deny it on existing tokens within ``vendors.cache_seconds``);
``grant`` adds a scope, refused while the vendor's security review is overdue.
Each step is an audit event (``phigate audit search --vendor V``). ``list`` shows
every campaign; an open one past its due date is overdue, and the nodes (or
``phigate vendor reminders --send``) alert about it once per ``vendors.overdue_alert_hours``.
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql.vendor_notices import SqlVendorNotices
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.admin.reviews import ReviewAdmin
from phigate.admin.vendor_audit import store_sink
from phigate.cli.output import emit
from phigate.cli.store import ConfigOption, JsonOption, migrated_database, open_keyring, run_with_settings
from phigate.errors import ConfigError
from phigate.settings import ResolvedSettings
from phigate.vendors.reminders import review_overdue_key
from phigate.vendors.reviews import AccessReview, Decision

review_app = typer.Typer(no_args_is_help=True, help="Access reviews of clients' permissions.")
ReviewArg = Annotated[str, typer.Argument(help="The review id.")]
ClientOption = Annotated[str, typer.Option("--client", help="The client id.")]
ReviewerOption = Annotated[str, typer.Option(help="Who decides (kept in the audit trail).")]


@asynccontextmanager
async def review_admin(resolved: ResolvedSettings) -> AsyncIterator[ReviewAdmin]:
    """The review use cases over the migrated store, auditing into the store's trail."""
    async with migrated_database(resolved) as db:
        keyring = await open_keyring(db, resolved)
        yield ReviewAdmin(db, keyring, resolved.settings, await store_sink(db, keyring))


@review_app.command("start")
def start(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Open a campaign over every active client's scopes; those unused in the period are flagged."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        if not resolved.settings.audit.enabled:
            raise ConfigError(
                problems=[
                    "audit.enabled: access reviews read each client's use from the audit trail; enable it"
                ]
            )
        async with review_admin(resolved) as reviews:
            review = await reviews.start(f"cli:{getpass.getuser()}")
        return review_view(review, datetime.now(UTC), None)

    emit(run_with_settings(config, work), as_json, _render_review)


@review_app.command("list")
def list_reviews(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Every campaign; an open one past its due date is overdue (with when it was last alerted)."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with migrated_database(resolved) as db:
            reviews = await SqlAccessReviews(db).list()
            keys = [review_overdue_key(r.id) for r in reviews]
            alerted = {n.key: n.sent_at for n in await SqlVendorNotices(db).sent(keys=keys)}
        now = datetime.now(UTC)
        return [review_view(r, now, alerted.get(review_overdue_key(r.id))) for r in reviews]

    emit(
        run_with_settings(config, work),
        as_json,
        lambda views: "\n\n".join(map(_render_review, views)) or "none",
    )


@review_app.command("decide")
def decide(
    review_id: ReviewArg,
    client_id: ClientOption,
    scope: Annotated[str, typer.Option(help="One registered scope of that client.")],
    decision: Annotated[Decision, typer.Option(help="keep or revoke.")],
    reviewer: ReviewerOption,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Keep or revoke one scope of one client; a revocation takes effect at once."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with review_admin(resolved) as reviews:
            review = await reviews.decide(review_id, client_id, scope, decision, reviewer)
        return review_view(review, datetime.now(UTC), None)

    emit(run_with_settings(config, work), as_json, _render_review)


@review_app.command("grant")
def grant(
    client_id: ClientOption,
    scope: Annotated[str, typer.Option(help='The scope to add, such as "system/Observation.rs".')],
    reviewer: ReviewerOption,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Add a scope to a client's registered scopes (refused while its vendor's security review is overdue)."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with review_admin(resolved) as reviews:
            client = await reviews.grant(client_id, scope, reviewer)
        return {"client_id": client.client_id, "scopes": client.scopes}

    emit(run_with_settings(config, work), as_json, lambda v: f"client {v['client_id']} scopes: {v['scopes']}")


def review_view(review: AccessReview, now: datetime, alerted_at: datetime | None) -> dict[str, Any]:
    return {
        **review.summary(now, alerted_at),
        "unused_days": review.unused_days,
        "items": [
            {
                "client_id": i.client_id, "vendor_id": i.vendor_id, "scope": i.scope, "contract": i.contract,
                "uses": i.uses, "by_type": i.by_type, "by_interaction": i.by_interaction,
                "last_used": i.last_used.isoformat() if i.last_used else None,
                "flagged": i.flagged, "decision": i.decision.value, "reviewer": i.reviewer,
            }
            for i in review.items
        ],
    }  # fmt: skip


def _render_review(view: dict[str, Any]) -> str:
    state = "overdue" if view["overdue"] else ("open" if view["open"] else "closed")
    alerted = f", alerted {view['alerted_at']}" if view["alerted_at"] else ""
    lines = [
        f"review {view['id']} ({state}{alerted}, due {view['due_on']}, {view['pending']} pending; "
        f"use over the last {view['unused_days']} days)"
    ]
    for item in view["items"]:
        flag = "FLAG unused" if item["flagged"] else f"{item['uses']} uses"
        lines.append(f"  {item['client_id']:<24} {item['scope']:<48} {flag:<12} {item['decision']}")
        if item["contract"]:
            lines.append(f"    contract {item['contract']}")
    return "\n".join(lines)
