"""Incident clocks (H.42) and closure only with the risk assessment (H.45)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from phigate.types import VendorId
from phigate.vendors.incidents import Incident, IncidentStatus
from phigate.vendors.records import RegistrationError

AWARE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def incident(jurisdictions: set[str]) -> Incident:
    return Incident(
        id="inc-1", vendor_id=VendorId("acme"), summary="Stolen laptop", aware_at=AWARE,
        recorded_at=AWARE + timedelta(hours=2), jurisdictions=frozenset(jurisdictions),
    )  # fmt: skip


def test_every_applicable_clock_is_computed_from_awareness() -> None:
    clocks = {c.name: c.due_at for c in incident({"EU", "US", "AU", "AU-MHR"}).clocks(contract_hours=24)}
    assert clocks == {
        "mhr": AWARE,
        "contract": AWARE + timedelta(hours=24),
        "gdpr": AWARE + timedelta(hours=72),
        "ndb": AWARE + timedelta(days=30),
        "hipaa": AWARE + timedelta(days=60),
    }


def test_only_the_jurisdictions_involved_start_clocks_and_contract_windows_cap_at_60_days() -> None:
    clocks = incident({"US"}).clocks(contract_hours=24 * 90)
    assert [(c.name, c.due_at) for c in clocks] == [
        ("contract", AWARE + timedelta(days=60)),
        ("hipaa", AWARE + timedelta(days=60)),
    ]


def test_a_clock_met_is_not_overdue() -> None:
    open_incident = incident({"EU"})
    late = AWARE + timedelta(hours=73)
    assert open_incident.clocks(None)[0].overdue(late)
    assert not open_incident.with_notice("gdpr", AWARE + timedelta(hours=70)).clocks(None)[0].overdue(late)


def test_an_incident_closes_only_with_its_assessment() -> None:
    open_incident = incident({"US"})
    with pytest.raises(RegistrationError, match="nature_extent"):
        open_incident.closed({"decision": "notify"}, AWARE)
    assessment = {
        "nature_extent": "names and lab results of 12 patients", "unauthorized_recipient": "unknown thief",
        "acquired_or_viewed": "not known", "mitigation": "remote wipe", "decision": "notify",
        "remediation": "disk encryption enforced",
    }  # fmt: skip
    closed = open_incident.closed(assessment, AWARE + timedelta(days=3))
    assert closed.status is IncidentStatus.closed and not closed.restricts


def test_unknown_jurisdictions_are_refused() -> None:
    with pytest.raises(RegistrationError, match="jurisdictions"):
        incident({"Mars"})
