"""Expiry reminders (A.6) and overdue reviews (A.7) as notices, on a frozen day: which are due, their keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from phigate.settings.vendors import VendorSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, DPA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import Evidence, EvidenceKind
from phigate.vendors.reminders import (
    NoticeKind,
    assessment_overdue,
    expiries,
    notices_due,
    reminders_due,
    review_overdue,
    upcoming,
)
from phigate.vendors.reviews import AccessReview, Decision, ReviewItem

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
TODAY = NOW.date()
EXPIRY = TODAY + timedelta(days=30)  # 2026-12-28: every artefact below ends that day
RULES = VendorSettings()


def agreement(kind: AgreementKind, until: date = EXPIRY, **extra: Any) -> Agreement:
    clauses = {AgreementKind.baa: BAA_CLAUSES, AgreementKind.dpa: DPA_CLAUSES}.get(kind, {})
    fields: dict[str, Any] = {"clauses": frozenset(clauses)}
    if kind is AgreementKind.dsa:
        fields |= {"purposes": ("treatment",), "data_categories": ("lab-results",)}
    return Agreement(
        id=f"ag-{kind.value}-{until.isoformat()}", vendor_id=V, kind=kind, valid_from=date(2025, 1, 1),
        valid_until=until, recorded_at=NOW, **(fields | extra),
    )  # fmt: skip


def evidence() -> tuple[Evidence, ...]:
    common: dict[str, Any] = {"vendor_id": V, "recorded_at": NOW, "issuer": "Auditor"}
    return (
        Evidence(id="ev-soc2", kind=EvidenceKind.soc2_type2, period_start=date(2025, 1, 1),
                 period_end=date(2025, 12, 28), **common),  # valid 12 months after the period
        Evidence(id="ev-iso", kind=EvidenceKind.iso27001, number="IS 1", expires_on=EXPIRY, **common),
        Evidence(id="ev-pt", kind=EvidenceKind.pentest, performed_on=EXPIRY - timedelta(days=365), **common),
    )  # fmt: skip


def dossier() -> Dossier:
    assessment = replace(assess("as-1", V, {}, "ciso", NOW - timedelta(days=300)), review_due=EXPIRY)
    agreements = tuple(agreement(kind) for kind in AgreementKind)
    return Dossier(V, evidence=evidence(), agreements=agreements, assessment=assessment)


def test_at_thirty_days_before_expiry_each_artefact_is_due_one_reminder() -> None:
    notices = reminders_due(dossier(), RULES, TODAY)
    assert sorted(n.subject for n in notices) == sorted(
        f"vendor:acme/{artefact}"
        for artefact in ("ev-soc2", "ev-iso", "ev-pt", "ag-baa-2026-12-28", "ag-dpa-2026-12-28",
                         "ag-dsa-2026-12-28", "as-1")
    )  # fmt: skip
    assert {n.lead_days for n in notices} == {30} and {n.kind for n in notices} == {NoticeKind.expiry}
    assert len({n.key for n in notices}) == 7 and not any(n.repeats for n in notices)
    baa = next(n for n in notices if "ag-baa" in n.key)
    assert baa.key == "expiry:acme:ag-baa-2026-12-28:2026-12-28:30"
    assert baa.text == "Vendor acme: HIPAA business associate agreement expires 2026-12-28 (in 30 days)"


@pytest.mark.parametrize(
    ("days_left", "lead"),
    [(61, None), (60, 60), (31, 60), (30, 30), (8, 30), (7, 7), (2, 7), (1, 1), (0, 1), (-1, None)],
)
def test_the_due_reminder_is_the_smallest_lead_time_that_covers_the_days_left(
    days_left: int, lead: int | None
) -> None:
    notices = reminders_due(
        Dossier(V, agreements=(agreement(AgreementKind.baa),)), RULES, EXPIRY - timedelta(days=days_left)
    )
    assert [n.lead_days for n in notices] == ([lead] if lead is not None else [])


def test_each_lead_time_has_its_own_key_and_a_renewal_starts_over() -> None:
    baa = Dossier(V, agreements=(agreement(AgreementKind.baa),))
    keys = {n.key for day in range(31) for n in reminders_due(baa, RULES, TODAY + timedelta(days=day))}
    assert keys == {f"expiry:acme:ag-baa-2026-12-28:2026-12-28:{lead}" for lead in (30, 7, 1)}
    renewed = Dossier(
        V, agreements=(agreement(AgreementKind.baa), agreement(AgreementKind.baa, date(2027, 12, 28)))
    )
    assert reminders_due(renewed, RULES, TODAY) == []  # the newest BAA runs another year
    assert reminders_due(renewed, RULES, date(2027, 11, 28))[0].key.startswith(
        "expiry:acme:ag-baa-2027-12-28"
    )


def test_superseded_evidence_and_terminated_agreements_are_not_reminded() -> None:
    older_iso = Evidence(id="ev-old", vendor_id=V, kind=EvidenceKind.iso27001, recorded_at=NOW, issuer="B",
                         number="IS 0", expires_on=TODAY + timedelta(days=7))  # fmt: skip
    newer_iso = replace(older_iso, id="ev-new", number="IS 2", expires_on=date(2029, 1, 1))
    ended = agreement(AgreementKind.dsa).terminated(TODAY - timedelta(days=1), "att-1 (return-or-destroy)")
    assert expiries(Dossier(V, evidence=(older_iso, newer_iso), agreements=(ended,)), RULES) == [
        expiries(Dossier(V, evidence=(newer_iso,)), RULES)[0]
    ]


def test_configured_lead_times_are_used_and_none_means_no_reminder() -> None:
    baa = Dossier(V, agreements=(agreement(AgreementKind.baa),))
    assert [n.lead_days for n in reminders_due(baa, VendorSettings(reminder_days=(45, 14)), TODAY)] == [45]
    assert reminders_due(baa, VendorSettings(reminder_days=()), TODAY) == []
    assert upcoming(baa, VendorSettings(reminder_days=()), TODAY) == []


def test_a_lead_time_listed_twice_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="list each lead time once"):
        VendorSettings(reminder_days=(30, 30))
    assert VendorSettings(reminder_days=(1, 60, 7)).reminder_days == (60, 7, 1)


def test_an_overdue_security_review_is_a_repeating_grace_notice() -> None:
    current = dossier()
    assert assessment_overdue(current, EXPIRY) is None  # due that day: not overdue yet
    notice = assessment_overdue(current, EXPIRY + timedelta(days=1))
    assert notice is not None and notice.repeats and notice.kind is NoticeKind.assessment_overdue
    assert notice.key == "assessment-overdue:acme:as-1"
    assert notice.text.startswith("Vendor acme: security review overdue since 2026-12-28; in grace")
    assert assessment_overdue(Dossier(V), TODAY) is None


def review(*decisions: Decision) -> AccessReview:
    items = tuple(
        ReviewItem(client_id=ClientId("lab"), vendor_id=V, scope=f"system/Type{i}.rs", uses=0, by_type={},
                   last_used=None, flagged=True, decision=d)
        for i, d in enumerate(decisions)
    )  # fmt: skip
    closed = NOW if all(d is not Decision.pending for d in decisions) else None
    return AccessReview(id="rev-1", started_at=NOW, due_on=TODAY + timedelta(days=14), unused_days=90,
                        items=items, closed_at=closed)  # fmt: skip


def test_an_open_review_past_its_due_date_is_overdue_once_closed_it_is_not() -> None:
    open_review = review(Decision.pending, Decision.keep)
    assert review_overdue(open_review, TODAY + timedelta(days=14)) is None
    notice = review_overdue(open_review, TODAY + timedelta(days=15))
    assert notice is not None and notice.vendor_id is None and notice.repeats
    assert (notice.key, notice.text) == (
        "review-overdue:rev-1",
        "Access review rev-1 overdue since 2026-12-12: 1 decision(s) pending",
    )
    assert review_overdue(review(Decision.keep), TODAY + timedelta(days=30)) is None


def test_everything_due_in_one_list_and_unknown_vendors_are_skipped() -> None:
    day = EXPIRY + timedelta(days=1)
    found = notices_due(
        [dossier(), Dossier(VendorId("gone"), known=False)], [review(Decision.pending)], RULES, day
    )
    assert sorted(n.kind.value for n in found) == ["assessment_overdue", "review_overdue"]
