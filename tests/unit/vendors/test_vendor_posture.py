"""The posture engine, table-driven: one dossier change -> one standing and one reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, DPA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.dossier import Dossier, Suspension
from phigate.vendors.evidence import Evidence, EvidenceKind
from phigate.vendors.incidents import Incident
from phigate.vendors.posture import Effect, Standing, evaluate

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RULES = VendorSettings()
GOOD_ANSWERS = {
    "certification": "both",
    "hipaa_compliance": "yes",
    "gdpr_compliance": "yes",
    "tls": "1.3",
    "encryption_at_rest": "aes-256",
    "mfa": "yes",
    "access_control": "yes",
    "logging": "yes",
    "incident_response": "yes",
    "breach_notice": "yes",
    "subprocessors": "yes",
    "data_location": "contracted",
}


def soc2(period_end: date, bridge_until: date | None = None) -> Evidence:
    return Evidence(
        id="ev-soc2",
        vendor_id=V,
        kind=EvidenceKind.soc2_type2,
        recorded_at=NOW,
        issuer="Big Four LLP",
        period_start=date(period_end.year - 1, period_end.month, 1),
        period_end=period_end,
        bridge_until=bridge_until,
    )


def iso(expires_on: date) -> Evidence:
    return Evidence(
        id="ev-iso",
        vendor_id=V,
        kind=EvidenceKind.iso27001,
        recorded_at=NOW,
        issuer="BSI",
        number="IS 123456",
        expires_on=expires_on,
    )


def pentest(performed_on: date) -> Evidence:
    return Evidence(
        id="ev-pt",
        vendor_id=V,
        kind=EvidenceKind.pentest,
        recorded_at=NOW,
        issuer="Red Team Ltd",
        performed_on=performed_on,
    )


def agreement(kind: AgreementKind, until: date = date(2027, 12, 31), **extra: Any) -> Agreement:
    clauses = {AgreementKind.baa: BAA_CLAUSES, AgreementKind.dpa: DPA_CLAUSES}.get(kind, {})
    defaults: dict[str, Any] = {"clauses": frozenset(clauses), "breach_notice_hours": 24}
    if kind is AgreementKind.dsa:
        defaults |= {"purposes": ("treatment",), "data_categories": ("lab-results",)}
    return Agreement(
        id=f"ag-{kind.value}",
        vendor_id=V,
        kind=kind,
        valid_from=date(2025, 1, 1),
        valid_until=until,
        recorded_at=NOW,
        **(defaults | extra),
    )


def good() -> Dossier:
    """A vendor in good standing: current SOC 2 and ISO, recent pen test, BAA in force, low risk."""
    return Dossier(
        vendor_id=V,
        evidence=(soc2(date(2026, 6, 30)), iso(date(2027, 6, 1)), pentest(date(2026, 5, 1))),
        agreements=(agreement(AgreementKind.baa),),
        assessment=assess("as-1", V, GOOD_ANSWERS, "ciso", NOW),
    )


def incident(**extra: Any) -> Incident:
    aware = datetime(2026, 11, 27, tzinfo=UTC)
    return Incident(id="inc-1", vendor_id=V, summary="Ransomware", aware_at=aware, recorded_at=NOW, **extra)


def test_a_vendor_with_everything_current_is_approved() -> None:
    posture = evaluate(good(), RULES, NOW)
    assert posture.standing is Standing.approved
    assert posture.reasons == () and posture.warnings == ()
    assert all(factor.passed for factor in posture.factors)


CASES: list[tuple[str, Dossier, Standing, str]] = [
    (
        "SOC 2 period ended 13 months ago, no bridge letter",
        replace(good(), evidence=(soc2(date(2025, 10, 31)),)),
        Standing.expired,
        "SOC 2 report period ended 2025-10-31; access suspended",
    ),
    (
        "SOC 2 old, but a bridge letter covers today",
        replace(good(), evidence=(soc2(date(2025, 10, 31), bridge_until=date(2026, 12, 31)),)),
        Standing.approved,
        "",
    ),
    (
        "ISO expired 10 days ago: inside the 30-day grace",
        replace(good(), evidence=(iso(date(2026, 11, 18)),)),
        Standing.approved,
        "",
    ),
    (
        "ISO expired 31 days ago: grace over",
        replace(good(), evidence=(iso(date(2026, 10, 28)),)),
        Standing.expired,
        "ISO 27001 certificate IS 123456 expired 2026-10-28 and its grace period ended; access suspended",
    ),
    (
        "no certification at all",
        replace(good(), evidence=(pentest(date(2026, 5, 1)),)),
        Standing.expired,
        "No SOC 2 Type II report or ISO 27001 certificate on file; access suspended",
    ),
    (
        "pen test older than a year",
        replace(good(), evidence=(iso(date(2027, 6, 1)), pentest(date(2025, 11, 1)))),
        Standing.conditional,
        "Penetration test of 2025-11-01 is out of date; access is read-only",
    ),
    (
        "no BAA",
        replace(good(), agreements=()),
        Standing.conditional,
        "No HIPAA business associate agreement on file; no PHI may be disclosed (de-identified data only)",
    ),
    (
        "BAA expired yesterday",
        replace(good(), agreements=(agreement(AgreementKind.baa, until=date(2026, 11, 27)),)),
        Standing.conditional,
        "HIPAA business associate agreement not in force (ends 2026-11-27); no PHI may be disclosed "
        "(de-identified data only)",
    ),
    (
        "BAA terminated",
        replace(
            good(),
            agreements=(
                agreement(
                    AgreementKind.baa, terminated_on=date(2026, 11, 1), termination_attestation="off-1"
                ),
            ),
        ),
        Standing.conditional,
        "HIPAA business associate agreement terminated 2026-11-01; no PHI may be disclosed "
        "(de-identified data only)",
    ),
    (
        "EU processing without a DPA",
        replace(good(), jurisdictions=frozenset({"EU"})),
        Standing.conditional,
        "No GDPR Art. 28 data processing agreement in force; no EU personal data",
    ),
    (
        "EU processing with a DPA",
        replace(
            good(),
            jurisdictions=frozenset({"EU"}),
            agreements=(agreement(AgreementKind.baa), agreement(AgreementKind.dpa)),
        ),
        Standing.approved,
        "",
    ),
    (
        "data-sharing agreement ended",
        replace(
            good(),
            agreements=(agreement(AgreementKind.baa), agreement(AgreementKind.dsa, until=date(2026, 1, 1))),
        ),
        Standing.expired,
        "Data-sharing agreement ended 2026-01-01; access suspended",
    ),
    (
        "open incident",
        replace(good(), incidents=(incident(),)),
        Standing.suspended,
        "Security incident of 2026-11-27 is open; access suspended",
    ),
    (
        "open incident, access reinstated",
        replace(good(), incidents=(incident(restored_at=NOW),)),
        Standing.approved,
        "",
    ),
    (
        "administrator suspension",
        replace(good(), suspension=Suspension("overdue invoice", NOW)),
        Standing.suspended,
        "Access suspended by the data holder on 2026-11-28",
    ),
    (
        "critical risk rating",
        replace(good(), assessment=assess("as-2", V, {**GOOD_ANSWERS, "breach_notice": "no"}, "ciso", NOW)),
        Standing.conditional,
        "Security assessment rated critical risk; access is read-only",
    ),
    (
        "unknown vendor",
        Dossier(V, known=False),
        Standing.suspended,
        "The vendor is not registered; access refused",
    ),
    (
        "unmanaged vendor, refused by default",
        Dossier(V),
        Standing.suspended,
        "The vendor has not been assessed yet; access refused until it is",
    ),
]


@pytest.mark.parametrize(("name", "dossier", "standing", "reason"), CASES, ids=[c[0] for c in CASES])
def test_one_change_gives_one_standing_and_reason(
    name: str, dossier: Dossier, standing: Standing, reason: str
) -> None:
    posture = evaluate(dossier, RULES, NOW)
    assert posture.standing is standing
    assert posture.reasons == ((reason,) if reason else ())


def test_the_worst_effect_wins_and_every_reason_is_listed() -> None:
    dossier = replace(good(), agreements=(), incidents=(incident(),))
    posture = evaluate(dossier, RULES, NOW)
    assert posture.standing is Standing.suspended
    assert len(posture.reasons) == 2


def test_moving_the_clock_past_soc2_validity_expires_the_vendor() -> None:
    dossier = replace(good(), evidence=(soc2(date(2026, 3, 31)),))
    assert evaluate(dossier, RULES, datetime(2027, 3, 31, 23, tzinfo=UTC)).standing is Standing.approved
    expired = evaluate(dossier, RULES, datetime(2027, 4, 1, tzinfo=UTC))
    assert expired.standing is Standing.expired
    assert expired.reasons == ("SOC 2 report period ended 2026-03-31; access suspended",)


@pytest.mark.parametrize(
    ("rules", "dossier", "standing", "effect"),
    [
        (
            VendorSettings(phi_without_baa="suspend"),
            replace(good(), agreements=()),
            Standing.suspended,
            Effect.suspend,
        ),
        (
            VendorSettings(incident_effect="read_only"),
            replace(good(), incidents=(incident(),)),
            Standing.conditional,
            Effect.read_only,
        ),
        (
            VendorSettings(iso_grace_days=0),
            replace(good(), evidence=(iso(date(2026, 11, 27)),)),
            Standing.expired,
            Effect.expire,
        ),
        (
            VendorSettings(soc2_valid_months=24),
            replace(good(), evidence=(soc2(date(2025, 10, 31)),)),
            Standing.approved,
            None,
        ),
        (
            VendorSettings(stale_pentest="ignore"),
            replace(good(), evidence=(iso(date(2027, 1, 1)), pentest(date(2020, 1, 1)))),
            Standing.approved,
            None,
        ),
        (VendorSettings(unmanaged_vendors="allow"), Dossier(V), Standing.approved, None),
        (VendorSettings(require_certification=False), replace(good(), evidence=()), Standing.approved, None),
    ],
)
def test_rules_are_configurable(
    rules: VendorSettings, dossier: Dossier, standing: Standing, effect: Effect | None
) -> None:
    posture = evaluate(dossier, rules, NOW)
    assert posture.standing is standing
    failed = {f.effect for f in posture.factors if not f.passed and f.effect is not Effect.warn}
    assert failed == ({effect} if effect else set())


def test_warnings_restrict_nothing_but_are_shown() -> None:
    slow = agreement(AgreementKind.baa, breach_notice_hours=96)
    overdue = replace(good().assessment, review_due=date(2026, 11, 1))  # type: ignore[type-var]
    posture = evaluate(replace(good(), agreements=(slow,), assessment=overdue), RULES, NOW)
    assert posture.standing is Standing.approved
    assert posture.warnings == (
        "HIPAA business associate agreement allows 96 h to notify a breach (policy: at most 48 h)",
        "Security review overdue since 2026-11-01",
    )


def test_the_same_dossier_always_gives_the_same_breakdown() -> None:
    first, second = evaluate(good(), RULES, NOW), evaluate(good(), RULES, NOW)
    assert first.as_dict() == second.as_dict()
    changed = evaluate(replace(good(), agreements=()), RULES, NOW)
    differing = [a for a, b in zip(first.factors, changed.factors, strict=True) if a != b]
    assert [f.item for f in differing] == ["baa"]
