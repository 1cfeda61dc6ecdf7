"""Access review campaigns in the durable store, and their decisions applied to the client registry.

A revocation narrows ``oauth_clients.scopes`` in the same transaction as the
decision and its trail line; when a client's last scope is revoked, the client
is disabled instead (a client without scopes cannot exist). A grant widens them,
only if they are still what the caller read (a concurrent change is refused).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import access_reviews, oauth_clients
from phigate.adapters.sql.vendor_codec import dumps, loads
from phigate.adapters.sql.vendor_evidence import record_event
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import ClientStatus, OAuthClient
from phigate.vendors.records import NotRegistered, RegistrationError
from phigate.vendors.reviews import AccessReview, Decision, ReviewItem, decide, without_scope


class SqlAccessReviews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, review: AccessReview, actor: str) -> None:
        values = {
            "id": review.id, "status": "open", "details": dumps(_document(review)),
            "started_at": review.started_at, "closed_at": None,
        }  # fmt: skip
        async with self._db.begin() as connection:
            await connection.execute(insert(access_reviews).values(values))
            for vendor_id in sorted({item.vendor_id for item in review.items}):
                await record_event(connection, vendor_id, actor, "review.start", review.id, review.started_at)

    async def get(self, review_id: str) -> AccessReview:
        query = select(access_reviews).where(access_reviews.c.id == review_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            raise NotRegistered(f"No access review '{review_id[:40]}'.")
        return _review(row.id, row.details, row.started_at, row.closed_at)

    async def list(self) -> list[AccessReview]:
        query = select(access_reviews).order_by(access_reviews.c.started_at)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_review(r.id, r.details, r.started_at, r.closed_at) for r in rows]

    async def decide(
        self, review_id: str, client_id: str, scope: str, decision: Decision, reviewer: str, now: datetime
    ) -> AccessReview:
        """Record the decision; a revocation takes effect on the client's registered scopes at once."""
        review = decide(await self.get(review_id), client_id, scope, decision, reviewer, now)
        item = next(i for i in review.items if i.client_id == client_id and i.scope == scope)
        async with self._db.begin() as connection:
            await connection.execute(
                update(access_reviews)
                .where(access_reviews.c.id == review_id)
                .values(details=dumps(_document(review)), status="open" if review.open else "closed",
                        closed_at=review.closed_at)
            )  # fmt: skip
            if decision is Decision.revoke:
                await self._revoke(connection, ClientId(client_id), scope, now)
            detail = f"{review_id} {client_id} {scope} {decision.value}"
            await record_event(connection, item.vendor_id, reviewer, f"review.{decision.value}", detail, now)
        return review

    async def grant(self, client: OAuthClient, ceiling: str, scope: str, actor: str, now: datetime) -> None:
        """Widen ``client``'s registered scopes to ``ceiling`` (which adds ``scope``), unless they changed
        since ``client`` was read."""
        table = oauth_clients
        statement = (
            update(table)
            .where(table.c.client_id == client.client_id, table.c.scopes == client.scopes)
            .values(scopes=ceiling, updated_at=now)
        )
        async with self._db.begin() as connection:
            if not (await connection.execute(statement)).rowcount:
                raise RegistrationError("scopes", "the client's scopes changed meanwhile; try again")
            detail = f"{client.client_id} {scope}"
            await record_event(connection, client.vendor_id, actor, "scope.grant", detail, now)

    async def _revoke(self, connection: Any, client_id: ClientId, scope: str, now: datetime) -> None:
        query = select(oauth_clients.c.scopes).where(oauth_clients.c.client_id == client_id)
        current = (await connection.execute(query)).scalar_one_or_none()
        if current is None:
            raise NotRegistered(f"No client '{client_id}' is registered.")
        remaining = without_scope(current, scope)
        values: dict[str, Any] = {"updated_at": now}
        if remaining:
            values["scopes"] = remaining
        else:
            values["status"] = ClientStatus.disabled.value
        await connection.execute(
            update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(values)
        )


def _document(review: AccessReview) -> dict[str, Any]:
    return {
        "due_on": review.due_on.isoformat(),
        "unused_days": review.unused_days,
        "items": [
            {
                "client_id": i.client_id, "vendor_id": i.vendor_id, "scope": i.scope, "uses": i.uses,
                "by_type": i.by_type, "by_interaction": i.by_interaction, "contract": i.contract,
                "last_used": i.last_used.isoformat() if i.last_used else None,
                "flagged": i.flagged, "decision": i.decision.value, "reviewer": i.reviewer,
                "decided_at": i.decided_at.isoformat() if i.decided_at else None,
            }
            for i in review.items
        ],
    }  # fmt: skip


def _review(review_id: str, details: str, started_at: datetime, closed_at: datetime | None) -> AccessReview:
    document = loads(details)
    items = tuple(
        ReviewItem(
            client_id=ClientId(i["client_id"]),
            vendor_id=VendorId(i["vendor_id"]),
            scope=i["scope"],
            uses=i["uses"],
            by_type=i["by_type"],
            by_interaction=i.get("by_interaction", {}),  # campaigns started before it was recorded
            contract=i.get("contract"),
            flagged=i["flagged"],
            decision=Decision(i["decision"]),
            last_used=_moment(i["last_used"]),
            reviewer=i["reviewer"],
            decided_at=_moment(i["decided_at"]),
        )
        for i in document["items"]
    )
    return AccessReview(
        id=review_id, started_at=as_utc(started_at), due_on=date.fromisoformat(document["due_on"]),
        unused_days=document["unused_days"], items=items,
        closed_at=as_utc(closed_at) if closed_at is not None else None,
    )  # fmt: skip


def _moment(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value else None
