"""Agreements: a BAA or DPA missing any mandatory clause is refused, one case per clause (A.2, A.3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, DPA_CLAUSES, Agreement, AgreementKind, active
from phigate.vendors.evidence import Evidence, EvidenceKind, add_months, valid_until
from phigate.vendors.records import RegistrationError

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def make(kind: AgreementKind, clauses: set[str], **extra: object) -> Agreement:
    return Agreement(
        id="ag-1",
        vendor_id=VendorId("acme"),
        kind=kind,
        valid_from=date(2026, 1, 1),
        valid_until=date(2027, 1, 1),
        recorded_at=NOW,
        clauses=frozenset(clauses),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("missing", list(BAA_CLAUSES))
def test_a_baa_without_any_one_mandatory_clause_is_refused(missing: str) -> None:
    with pytest.raises(RegistrationError, match=missing):
        make(AgreementKind.baa, set(BAA_CLAUSES) - {missing})


@pytest.mark.parametrize("missing", list(DPA_CLAUSES))
def test_a_dpa_without_any_one_art28_flag_is_refused(missing: str) -> None:
    with pytest.raises(RegistrationError, match=f"clause\\(s\\): {missing}$"):
        make(AgreementKind.dpa, set(DPA_CLAUSES) - {missing})


def test_complete_agreements_are_active_only_inside_their_dates() -> None:
    baa = make(AgreementKind.baa, set(BAA_CLAUSES))
    assert active([baa], AgreementKind.baa, date(2026, 6, 1)) is baa
    assert active([baa], AgreementKind.baa, date(2027, 1, 2)) is None
    assert active([baa], AgreementKind.baa, date(2025, 12, 31)) is None


def test_a_data_sharing_agreement_names_purposes_and_categories() -> None:
    with pytest.raises(RegistrationError, match="purposes"):
        make(AgreementKind.dsa, set())
    dsa = make(AgreementKind.dsa, set(), purposes=("treatment",), data_categories=("lab-results",))
    assert dsa.purposes == ("treatment",)


def test_a_slow_breach_notice_is_flagged() -> None:
    baa = make(AgreementKind.baa, set(BAA_CLAUSES), breach_notice_hours=96)
    assert baa.notice_too_slow(48) and not baa.notice_too_slow(96)


def test_soc2_validity_counts_months_from_period_end_and_bridge_letters_extend_it() -> None:
    report = Evidence(
        id="ev-1",
        vendor_id=VendorId("acme"),
        kind=EvidenceKind.soc2_type2,
        recorded_at=NOW,
        issuer="Auditor",
        period_start=date(2025, 4, 1),
        period_end=date(2026, 3, 31),
    )
    assert valid_until(report, soc2_valid_months=12, pentest_valid_days=365) == date(2027, 3, 31)
    bridged = Evidence(**{**report.__dict__, "bridge_until": date(2027, 6, 30)})
    assert valid_until(bridged, soc2_valid_months=12, pentest_valid_days=365) == date(2027, 6, 30)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_evidence_without_its_dates_is_refused() -> None:
    with pytest.raises(RegistrationError, match="period"):
        Evidence(id="x", vendor_id=VendorId("a"), kind=EvidenceKind.soc2_type2, recorded_at=NOW, issuer="A")
    with pytest.raises(RegistrationError, match="number"):
        Evidence(id="x", vendor_id=VendorId("a"), kind=EvidenceKind.iso27001, recorded_at=NOW, issuer="A")
