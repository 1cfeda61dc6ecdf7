"""Offboarding's state machine (compliance-controls A.11): a vendor or an agreement moves to terminated only
with a return-or-destroy attestation; termination is final and its standing says so."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest

from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import Attachment
from phigate.vendors.offboarding import Attestation, Disposition, plan_termination
from phigate.vendors.posture import Standing, evaluate
from phigate.vendors.records import RegistrationError, Vendor, VendorStatus

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
FILE = b"%PDF we destroyed every copy"


def attestation(vendor_id: VendorId = V) -> Attestation:
    document = Attachment("destruction.pdf", hashlib.sha256(FILE).hexdigest(), len(FILE))
    return Attestation(
        id="off-1", vendor_id=vendor_id, disposition=Disposition.destroyed, signed_by="Jo Bloggs, CISO",
        signed_on=date(2026, 11, 27), recorded_at=NOW, document=document,
    )  # fmt: skip


def baa(**changes: object) -> Agreement:
    fields: dict[str, object] = {"id": "ag-1", "valid_until": date(2028, 12, 31), **changes}
    return Agreement(
        vendor_id=V, kind=AgreementKind.baa, valid_from=date(2025, 1, 1), recorded_at=NOW,
        clauses=frozenset(BAA_CLAUSES), **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("start", "target", "attested", "allowed"),
    [
        (VendorStatus.active, VendorStatus.terminated, False, False),
        (VendorStatus.suspended, VendorStatus.terminated, False, False),
        (VendorStatus.active, VendorStatus.terminated, True, True),
        (VendorStatus.suspended, VendorStatus.terminated, True, True),
        (VendorStatus.active, VendorStatus.suspended, False, True),
        (VendorStatus.suspended, VendorStatus.active, False, True),
        (VendorStatus.terminated, VendorStatus.active, True, False),
        (VendorStatus.terminated, VendorStatus.suspended, True, False),
        (VendorStatus.terminated, VendorStatus.terminated, True, False),
    ],
)
def test_the_vendor_life_cycle(
    start: VendorStatus, target: VendorStatus, attested: bool, allowed: bool
) -> None:
    vendor = Vendor(id=V, name="Acme", created_at=NOW, status=start)
    if allowed:
        assert vendor.moved_to(target, attestation="off-1" if attested else None).status is target
        return
    with pytest.raises(RegistrationError) as refused:
        vendor.moved_to(target, attestation="off-1" if attested else None)
    assert refused.value.field == ("attestation" if start is not VendorStatus.terminated else "status")


def test_termination_without_the_attestation_is_refused_and_names_it() -> None:
    vendor = Vendor(id=V, name="Acme", created_at=NOW)
    with pytest.raises(RegistrationError, match="return-or-destroy attestation") as refused:
        plan_termination(vendor, [baa()], None)
    assert refused.value.field == "attestation"


def test_an_agreement_is_terminated_only_with_the_attestation() -> None:
    with pytest.raises(RegistrationError, match="return-or-destroy attestation"):
        baa().terminated(NOW.date(), None)
    with pytest.raises(RegistrationError, match="return-or-destroy attestation"):
        baa(terminated_on=date(2026, 11, 1))  # a record cannot claim it either
    ended = baa().terminated(NOW.date(), "off-1")
    assert (ended.terminated_on, ended.termination_attestation) == (NOW.date(), "off-1")
    assert not ended.active_on(NOW.date())
    with pytest.raises(RegistrationError, match="was terminated 2026-11-28"):
        ended.terminated(NOW.date(), "off-2")


def test_termination_ends_the_running_agreements_and_the_standing_is_terminated() -> None:
    vendor = Vendor(id=V, name="Acme", created_at=NOW)
    lapsed = baa(id="ag-2", valid_until=date(2026, 1, 1))
    plan = plan_termination(vendor, [baa(), lapsed], attestation())
    assert plan.vendor.status is VendorStatus.terminated
    assert [a.id for a in plan.agreements] == ["ag-1"] and plan.agreements[0].terminated_on == NOW.date()
    posture = evaluate(
        Dossier(V, agreements=plan.agreements, offboarding=attestation()), VendorSettings(), NOW
    )
    assert posture.standing is Standing.terminated and posture.refuses_all
    assert posture.reasons[0] == "Vendor offboarded on 2026-11-28; access ended"


def test_another_vendor_s_attestation_does_not_terminate() -> None:
    vendor = Vendor(id=V, name="Acme", created_at=NOW)
    with pytest.raises(RegistrationError, match="another vendor"):
        plan_termination(vendor, [], attestation(VendorId("other")))


def test_an_attestation_signed_after_it_is_recorded_is_refused() -> None:
    with pytest.raises(RegistrationError, match="signed_on"):
        Attestation(
            id="off-1", vendor_id=V, disposition=Disposition.returned, signed_by="Jo",
            signed_on=date(2027, 1, 1), recorded_at=NOW, document=attestation().document,
        )  # fmt: skip
