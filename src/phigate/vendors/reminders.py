"""Expiry reminders (compliance-controls A.6) and overdue reviews (A.7, access reviews), as notices.

Pure: the dossiers, campaigns and day are passed in. A notice is what the
data holder's officers must be told once; the store remembers each notice's
``key`` when it is sent, so that no node and no run sends it twice:

- an expiry reminder is keyed by vendor, artefact, expiry date and lead time
  (``vendors.reminder_days``, such as 60/30/7/1 days): one per artefact per lead
  time. Only the current stage is due (an artefact 30 days from expiry is due its
  30-day reminder, not a 60-day one a stopped scheduler missed); a renewed
  artefact has a new expiry date and starts over;
- an overdue security review (the vendor is in grace, :mod:`phigate.vendors.grants`)
  and an overdue access-review campaign repeat every ``vendors.overdue_alert_hours``
  for as long as they stay overdue.

The artefacts: the newest evidence of each kind (SOC 2 validity, ISO 27001
certificate expiry, penetration-test validity), the newest agreement of each
kind (BAA, DPA and data-sharing agreement: the contract's end; a terminated one
is over) and the security assessment's review date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.agreements import AgreementKind, newest
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import EvidenceKind, latest, valid_until
from phigate.vendors.grants import grace_since
from phigate.vendors.reviews import AccessReview


class NoticeKind(StrEnum):
    expiry = "expiry"
    assessment_overdue = "assessment_overdue"
    review_overdue = "review_overdue"


@dataclass(frozen=True)
class Expiry:
    artefact: str  # the evidence, agreement or assessment id
    label: str
    expires_on: date

    def days_left(self, today: date) -> int:
        return (self.expires_on - today).days


@dataclass(frozen=True)
class Notice:
    key: str  # what the store remembers once it is sent
    kind: NoticeKind
    vendor_id: VendorId | None  # None: an access review, which spans vendors
    subject: str  # what it is about: one artefact, one vendor or one campaign
    text: str  # the message: ids, kinds and dates only
    lead_days: int | None = None  # an expiry reminder's lead time

    @property
    def repeats(self) -> bool:
        """Sent again every overdue interval while it holds (an expiry reminder is sent once)."""
        return self.kind is not NoticeKind.expiry


@dataclass(frozen=True)
class SentNotice:
    """A notice as the store remembers it: when it last went out."""

    key: str
    kind: NoticeKind
    vendor_id: VendorId | None
    text: str
    sent_at: datetime


def expiries(dossier: Dossier, rules: VendorSettings) -> list[Expiry]:
    """Every artefact of the vendor that expires, with its last valid day."""
    found = []
    for kind in EvidenceKind:
        item = latest(list(dossier.evidence), kind)
        if item is not None:
            until = valid_until(
                item, soc2_valid_months=rules.soc2_valid_months, pentest_valid_days=rules.pentest_valid_days
            )
            found.append(Expiry(item.id, item.label, until))
    for agreement_kind in AgreementKind:
        last = newest(list(dossier.agreements), agreement_kind)
        if last is not None and last.terminated_on is None:
            found.append(Expiry(last.id, last.label, last.valid_until))
    assessment = dossier.assessment
    if assessment is not None:
        found.append(Expiry(assessment.id, "security assessment review", assessment.review_due))
    return found


def upcoming(dossier: Dossier, rules: VendorSettings, today: date) -> list[Expiry]:
    """Artefacts that expire within the longest lead time, soonest first."""
    horizon = max(rules.reminder_days, default=-1)
    soon = [e for e in expiries(dossier, rules) if 0 <= e.days_left(today) <= horizon]
    return sorted(soon, key=lambda e: (e.expires_on, e.label))


def reminders_due(dossier: Dossier, rules: VendorSettings, today: date) -> list[Notice]:
    """One reminder per artefact in a lead-time window today: the window's smallest lead time that
    still covers the days left."""
    notices = []
    for item in upcoming(dossier, rules, today):
        left = item.days_left(today)
        lead = min(days for days in rules.reminder_days if days >= left)
        when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
        notices.append(
            Notice(
                key=f"expiry:{dossier.vendor_id}:{item.artefact}:{item.expires_on.isoformat()}:{lead}",
                kind=NoticeKind.expiry,
                vendor_id=dossier.vendor_id,
                subject=f"vendor:{dossier.vendor_id}/{item.artefact}",
                text=f"Vendor {dossier.vendor_id}: {item.label} expires {item.expires_on.isoformat()} "
                f"({when})",
                lead_days=lead,
            )
        )
    return notices


def assessment_overdue(dossier: Dossier, today: date) -> Notice | None:
    """The vendor's security review is overdue: it is in grace (A.7)."""
    since = grace_since(dossier, today)
    if since is None or dossier.assessment is None:
        return None
    return Notice(
        key=f"assessment-overdue:{dossier.vendor_id}:{dossier.assessment.id}",
        kind=NoticeKind.assessment_overdue,
        vendor_id=dossier.vendor_id,
        subject=f"vendor:{dossier.vendor_id}",
        text=f"Vendor {dossier.vendor_id}: security review overdue since {since.isoformat()}; in grace: "
        "its clients keep their scopes, no new scope is granted until it is reassessed",
    )


def review_overdue_key(review_id: str) -> str:
    return f"review-overdue:{review_id}"


def review_overdue(review: AccessReview, today: date) -> Notice | None:
    if not review.open or today <= review.due_on:
        return None
    return Notice(
        key=review_overdue_key(review.id),
        kind=NoticeKind.review_overdue,
        vendor_id=None,
        subject=f"review:{review.id}",
        text=f"Access review {review.id} overdue since {review.due_on.isoformat()}: "
        f"{review.pending} decision(s) pending",
    )


def notices_due(
    dossiers: Iterable[Dossier], reviews: Iterable[AccessReview], rules: VendorSettings, today: date
) -> list[Notice]:
    """Everything due today, whether or not it was sent already (the store knows that)."""
    notices = []
    for dossier in dossiers:
        if dossier.known:
            notices += reminders_due(dossier, rules, today)
            overdue = assessment_overdue(dossier, today)
            notices += [overdue] if overdue is not None else []
    for review in reviews:
        late = review_overdue(review, today)
        notices += [late] if late is not None else []
    return notices
