"""Access reviews: a campaign lists every client's scopes with evidence of use; the reviewer keeps or revokes.

Each item is one registered scope of one active client, with the data contract
that applies to the client and its use in the audit trail over the last
``unused_days`` (requests by resource type, last use). A scope is *used* by a
request whose resource type and interaction it covers (``system/Observation.rs``
covers reads and searches of Observation). A scope not used in that period is
flagged for revocation. Revoking a scope removes it from the client's registered
ceiling: new tokens no longer carry it, and the posture stage narrows tokens
already issued to the current ceiling, so it is denied on them too. A campaign
still open after its due date is overdue.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from phigate.policy.scopes import ScopeSet
from phigate.settings.contracts import ContractsSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import OAuthClient
from phigate.vendors.records import RegistrationError, check_name
from phigate.vendors.usage import Use

PERMISSION = {
    "read": "r", "vread": "r", "history": "r", "search": "s",
    "create": "c", "update": "u", "patch": "u", "delete": "d",
}  # fmt: skip


class Decision(StrEnum):
    pending = "pending"
    keep = "keep"
    revoke = "revoke"


@dataclass(frozen=True, kw_only=True)
class ReviewItem:
    client_id: ClientId
    vendor_id: VendorId
    scope: str
    uses: int
    by_type: dict[str, int]  # requests per resource type
    last_used: datetime | None
    flagged: bool
    by_interaction: dict[str, int] = field(default_factory=dict)  # requests per interaction (read, search)
    contract: str | None = None  # the data contract that applies to the client, in brief
    decision: Decision = Decision.pending
    reviewer: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AccessReview:
    id: str
    started_at: datetime
    due_on: date
    unused_days: int
    items: tuple[ReviewItem, ...]
    closed_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def overdue(self, now: datetime) -> bool:
        return self.open and now.date() > self.due_on

    @property
    def pending(self) -> int:
        return sum(1 for item in self.items if item.decision is Decision.pending)

    def summary(self, now: datetime, alerted_at: datetime | None) -> dict[str, Any]:
        """The campaign at a glance (JSON-ready), as ``review list`` and the vendor report show it."""
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "due_on": self.due_on.isoformat(),
            "open": self.open,
            "overdue": self.overdue(now),
            "alerted_at": alerted_at.isoformat() if alerted_at is not None else None,
            "pending": self.pending,
        }


def start_review(
    review_id: str,
    clients: list[OAuthClient],
    uses: list[Use],
    now: datetime,
    *,
    unused_days: int,
    due_days: int,
    contracts: ContractsSettings | None = None,
) -> AccessReview:
    """A campaign over every active client's registered scopes, flagged from ``uses`` (any older than
    ``unused_days`` do not count)."""
    cutoff = review_period_start(now, unused_days)
    items = []
    for client in clients:
        if not client.active:
            continue
        contract = contract_of(client, contracts) if contracts is not None else None
        mine = [use for use in uses if use.client_id == client.client_id and use.last_at >= cutoff]
        items += [_item(client, scope, mine, contract) for scope in client.scopes.split(" ")]
    return AccessReview(
        id=review_id, started_at=now, due_on=now.date() + timedelta(days=due_days), unused_days=unused_days,
        items=tuple(items),
    )  # fmt: skip


def _item(client: OAuthClient, scope: str, uses: list[Use], contract: str | None) -> ReviewItem:
    covered = [use for use in uses if covers(scope, use)]
    by_type: dict[str, int] = {}
    by_interaction: dict[str, int] = {}
    for use in covered:
        by_type[use.resource_type] = by_type.get(use.resource_type, 0) + use.count
        by_interaction[use.interaction] = by_interaction.get(use.interaction, 0) + use.count
    last = max((use.last_at for use in covered), default=None)
    return ReviewItem(
        client_id=client.client_id, vendor_id=client.vendor_id, scope=scope, uses=sum(by_type.values()),
        by_type=by_type, by_interaction=by_interaction, last_used=last, flagged=last is None,
        contract=contract,
    )  # fmt: skip


def review_period_start(now: datetime, unused_days: int) -> datetime:
    """Where a campaign started at ``now`` begins reading the audit trail for use."""
    return now - timedelta(days=unused_days)


def contract_of(client: OAuthClient, contracts: ContractsSettings) -> str | None:
    """The data contract that applies to ``client`` (its own, else its vendor's), in brief; None: none."""
    if client.client_id in contracts.clients:
        key, chosen = f"contracts.clients.{client.client_id}", contracts.clients[client.client_id]
    elif client.vendor_id in contracts.vendors:
        key, chosen = f"contracts.vendors.{client.vendor_id}", contracts.vendors[client.vendor_id]
    else:
        return None
    terms = "; ".join(f"{name} {'/'.join(t.interactions)}" for name, t in chosen.resources.items())
    return f"{key}: {terms}"


def covers(scope: str, use: Use) -> bool:
    permission = PERMISSION.get(use.interaction)
    if permission is None:
        return False
    return any(
        clinical.allows(permission) and clinical.resource_type in ("*", use.resource_type)
        for clinical in ScopeSet.parse(scope).clinical
    )


def decide(
    review: AccessReview, client_id: str, scope: str, decision: Decision, reviewer: str, now: datetime
) -> AccessReview:
    """The review with one item decided; refused on a closed review or an item it does not hold."""
    if not review.open:
        raise RegistrationError("review", "the review is closed")
    if decision is Decision.pending:
        raise RegistrationError("decision", "decide keep or revoke")
    reviewer = check_name(reviewer, "reviewer")
    found = False
    items = []
    for item in review.items:
        if item.client_id == client_id and item.scope == scope:
            found = True
            item = replace(item, decision=decision, reviewer=reviewer, decided_at=now)
        items.append(item)
    if not found:
        raise RegistrationError(
            "scope", f"the review has no scope {scope[:80]!r} for client {client_id[:64]!r}"
        )
    decided = replace(review, items=tuple(items))
    return replace(decided, closed_at=now) if decided.pending == 0 else decided


def without_scope(scopes: str, revoked: str) -> str:
    """The registered ceiling without one of its scopes (empty when it was the last)."""
    return " ".join(scope for scope in scopes.split(" ") if scope != revoked)
