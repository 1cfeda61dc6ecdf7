"""``phigate review``: access-review campaigns over every client's scopes, with evidence of use.

``start`` lists each active client's registered scopes with their use (requests
by resource type, last use) and flags those unused for ``vendors.review_unused_days``;
``decide`` keeps or revokes one scope: a revocation narrows the client's
registered scopes at once (new tokens lack it; gateway nodes deny it on
existing tokens within ``vendors.cache_seconds``). Decisions go to the vendor's trail.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_usage import SqlClientUsage
from phigate.cli.output import emit
from phigate.cli.vendors import ConfigOption, JsonOption, migrated_database, run_with_settings
from phigate.settings import ResolvedSettings
from phigate.vendors.reviews import AccessReview, Decision, start_review

review_app = typer.Typer(no_args_is_help=True, help="Access reviews of clients' permissions.")
log = structlog.get_logger("phigate.reviews")
ReviewArg = Annotated[str, typer.Argument(help="The review id.")]


@review_app.command("start")
def start(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Open a campaign over every active client's scopes; unused ones are flagged for revocation."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        rules = resolved.settings.vendors
        async with migrated_database(resolved) as db:
            clients = await SqlClientRegistry(db).list()
            uses = await SqlClientUsage(db).uses()
            review = start_review(
                new_id("rev"), clients, uses, datetime.now(UTC),
                unused_days=rules.review_unused_days, due_days=rules.review_due_days,
            )  # fmt: skip
            await SqlAccessReviews(db).add(review, f"cli:{getpass.getuser()}")
        return review_view(review, datetime.now(UTC))

    emit(run_with_settings(config, work), as_json, _render_review)


@review_app.command("list")
def list_reviews(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Every campaign; an open one past its due date is overdue (and logged as an alert)."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with migrated_database(resolved) as db:
            reviews = await SqlAccessReviews(db).list()
        now = datetime.now(UTC)
        for review in reviews:
            if review.overdue(now):
                log.warning("access_review_overdue", review_id=review.id, due_on=review.due_on.isoformat())
        return [review_view(review, now) for review in reviews]

    emit(
        run_with_settings(config, work),
        as_json,
        lambda views: "\n\n".join(map(_render_review, views)) or "none",
    )


@review_app.command("decide")
def decide(
    review_id: ReviewArg,
    client_id: Annotated[str, typer.Option("--client", help="The client id.")],
    scope: Annotated[str, typer.Option(help="One registered scope of that client.")],
    decision: Annotated[Decision, typer.Option(help="keep or revoke.")],
    reviewer: Annotated[str, typer.Option(help="Who decides.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Keep or revoke one scope of one client; a revocation takes effect at once."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            review = await SqlAccessReviews(db).decide(
                review_id, client_id, scope, decision, reviewer, datetime.now(UTC)
            )
        return review_view(review, datetime.now(UTC))

    emit(run_with_settings(config, work), as_json, _render_review)


def review_view(review: AccessReview, now: datetime) -> dict[str, Any]:
    return {
        "id": review.id,
        "started_at": review.started_at.isoformat(),
        "due_on": review.due_on.isoformat(),
        "open": review.open,
        "overdue": review.overdue(now),
        "pending": review.pending,
        "unused_days": review.unused_days,
        "items": [
            {
                "client_id": i.client_id, "vendor_id": i.vendor_id, "scope": i.scope, "uses": i.uses,
                "by_type": i.by_type, "last_used": i.last_used.isoformat() if i.last_used else None,
                "flagged": i.flagged, "decision": i.decision.value, "reviewer": i.reviewer,
            }
            for i in review.items
        ],
    }  # fmt: skip


def _render_review(view: dict[str, Any]) -> str:
    state = "overdue" if view["overdue"] else ("open" if view["open"] else "closed")
    lines = [f"review {view['id']} ({state}, due {view['due_on']}, {view['pending']} pending)"]
    for item in view["items"]:
        flag = "FLAG unused" if item["flagged"] else f"{item['uses']} uses"
        lines.append(f"  {item['client_id']:<24} {item['scope']:<48} {flag:<12} {item['decision']}")
    return "\n".join(lines)
