"""Access reviews over the ports: start a campaign from the audit trail, decide, grant; each one audited.

The campaign's evidence of use is read from the audit trail over the last
``vendors.review_unused_days``. Every step writes an audit event to the same
trail as the rest of vendor management (``vendor.review.start``,
``vendor.review.keep`` / ``vendor.review.revoke``, ``vendor.scope.grant``), with
who acted and on which review, client and scope; ``phigate audit search
--vendor V`` finds them. A decision or grant is audited once it has committed.

A new scope for a client whose vendor's security review is overdue is refused
with 409 (compliance-controls A.7); the refusal is audited with the vendor's
``grace`` state: its clients keep the scopes they hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.database import Database
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendor_usage import SqlAuditUsage
from phigate.admin.vendor_audit import AuditSink
from phigate.audit.events import AuditEvent, Kind
from phigate.ports import DataCipher
from phigate.settings import Settings
from phigate.types import ClientId
from phigate.vendors.clients import OAuthClient
from phigate.vendors.grants import GrantRefused, grace_since, widened
from phigate.vendors.records import NotRegistered, check_name
from phigate.vendors.reviews import AccessReview, Decision, review_period_start, start_review

log = structlog.get_logger("phigate.reviews")


class ReviewAdmin:
    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        settings: Settings,
        audit: AuditSink,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = SqlClientRegistry(db)
        self.reviews = SqlAccessReviews(db)
        self.usage = SqlAuditUsage(db)
        self.risk = SqlVendorRisk(db, cipher)
        self.rules = settings.vendors
        self.contracts = settings.contracts
        self.audit = audit
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def start(self, actor: str) -> AccessReview:
        """A campaign over every active client's scopes, with their use in the audit trail."""
        now, rules = self.now(), self.rules
        clients = [c for c in await self.clients.list() if c.active]
        since = review_period_start(now, rules.review_unused_days)
        uses = await self.usage.uses(since, [c.client_id for c in clients])
        review = start_review(
            new_id("rev"), clients, uses, now, unused_days=rules.review_unused_days,
            due_days=rules.review_due_days, contracts=self.contracts,
        )  # fmt: skip
        await self.reviews.add(review, actor)
        for vendor_id in sorted({item.vendor_id for item in review.items}):
            items = [item for item in review.items if item.vendor_id == vendor_id]
            flagged = sum(1 for item in items if item.flagged)
            reason = f"access review {review.id}: {len(items)} scope(s), {flagged} flagged unused"
            facts = {"actor": actor, "review_id": review.id, "scopes": len(items), "flagged": flagged}
            await self.audit(_event("vendor.review.start", now, vendor_id, reason, facts))
        return review

    async def decide(
        self, review_id: str, client_id: str, scope: str, decision: Decision, reviewer: str
    ) -> AccessReview:
        """Keep or revoke one scope; a revocation narrows the client's registered scopes at once."""
        now = self.now()
        review = await self.reviews.decide(review_id, client_id, scope, decision, reviewer, now)
        item = next(i for i in review.items if i.client_id == client_id and i.scope == scope)
        facts = {"actor": item.reviewer, "review_id": review.id, "scope": scope, "decision": decision.value}
        reason = f"access review {review.id}: {decision.value} {scope} of {client_id}"
        action = f"vendor.review.{decision.value}"
        await self.audit(_event(action, now, item.vendor_id, reason, facts, client_id=item.client_id))
        return review

    async def grant(self, client_id: str, scope: str, reviewer: str) -> OAuthClient:
        """Add ``scope`` to the client's registered scopes; refused (409) while its vendor is in grace."""
        now, reviewer = self.now(), check_name(reviewer, "reviewer")
        client = await self.clients.get(ClientId(client_id))
        if client is None:
            raise NotRegistered(f"No client '{client_id[:64]}' is registered (see `phigate client list`).")
        dossier = await self.risk.dossier(client.vendor_id)
        try:
            ceiling = widened(client.scopes, scope, dossier, now.date())
        except GrantRefused as refused:
            overdue = grace_since(dossier, now.date())
            facts = {"actor": reviewer, "scope": scope[:200], "state": "grace",
                     "review_due": overdue.isoformat() if overdue else None}  # fmt: skip
            log.warning("vendor_in_grace", vendor_id=client.vendor_id, client_id=client.client_id)
            await self.audit(
                _event("vendor.scope.grant", now, client.vendor_id, refused.message, facts,
                       client_id=client.client_id, refused=refused)
            )  # fmt: skip
            raise
        if ceiling == client.scopes:
            return client
        granted = replace(client, scopes=ceiling)  # the client's own rules (no PHI scope on a secret)
        await self.reviews.grant(client, granted.scopes, scope, reviewer, now)
        facts = {"actor": reviewer, "scope": scope[:200], "scopes": granted.scopes}
        reason = f"granted {scope[:200]} to {client.client_id}"
        await self.audit(
            _event("vendor.scope.grant", now, client.vendor_id, reason, facts, client_id=client.client_id)
        )
        return granted


def _event(
    action: str,
    now: datetime,
    vendor_id: str,
    reason: str,
    facts: dict[str, Any],
    *,
    client_id: str | None = None,
    refused: GrantRefused | None = None,
) -> AuditEvent:
    return AuditEvent(
        kind=Kind.security, action=action, recorded=now.timestamp(), vendor_id=vendor_id,
        client_id=client_id, reason=reason[:500], rules=facts,
        outcome=refused.code if refused is not None else "ok", status=refused.status if refused else 0,
    )  # fmt: skip
