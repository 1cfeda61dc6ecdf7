"""Sub-processor changes (compliance-controls A.4): a change is pending until the controller decides it,
the vendor's standing is pending_review with the reason meanwhile, and a decision restores it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from phigate.settings.vendors import VendorSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.dossier import Dossier
from phigate.vendors.posture import Effect, Standing, evaluate
from phigate.vendors.records import RegistrationError
from phigate.vendors.subprocessors import ChangeStatus, Subprocessor, held_scopes, on_the_list, propose

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
RULES = VendorSettings(unmanaged_vendors="allow")
SCOPES = {ClientId("lab"): "system/Observation.rs"}


def proposal(listed: list[Subprocessor], name: str = "CloudStore", **terms: object) -> Subprocessor:
    fields: dict[str, object] = {
        "service": "object storage", "data_categories": ("lab-results",), "locations": ("US",), **terms,
    }  # fmt: skip
    return propose(
        listed, id=f"sp-{len(listed) + 1}", vendor_id=V, name=name, now=NOW, window_days=30, scopes=SCOPES,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_adding_a_sub_processor_makes_a_pending_change_with_a_window_and_the_scopes_it_holds() -> None:
    item = proposal([])
    assert (item.status, item.change, item.replaces) == (ChangeStatus.pending, "added", None)
    assert item.objection_until == date(2026, 12, 28)
    assert item.scopes_at_proposal == SCOPES
    assert held_scopes([item]) == SCOPES


def test_the_vendor_is_pending_review_with_the_reason_until_approved() -> None:
    item = proposal([])
    posture = evaluate(Dossier(V, subprocessors=(item,)), RULES, NOW)
    assert posture.standing is Standing.pending_review
    assert posture.restrictions == {Effect.pending_review}
    assert posture.reasons == (
        "Sub-processor CloudStore added 2026-11-28; pending approval (objection window ends 2026-12-28)",
    )
    approved = item.approved("cli:dpo", NOW + timedelta(days=3))
    restored = evaluate(Dossier(V, subprocessors=(approved,)), RULES, NOW + timedelta(days=3))
    assert (restored.standing, restored.reasons) == (Standing.approved, ())
    assert held_scopes([approved]) is None and on_the_list([approved]) == [approved]


def test_an_objection_ends_the_change_and_the_hold_and_keeps_it_off_the_list() -> None:
    objected = proposal([]).objected("cli:dpo", NOW, "processes outside our approved countries")
    assert evaluate(Dossier(V, subprocessors=(objected,)), RULES, NOW).standing is Standing.approved
    assert on_the_list([objected]) == [] and held_scopes([objected]) is None
    with pytest.raises(RegistrationError, match="decided already"):
        objected.approved("cli:dpo", NOW)


def test_after_the_window_the_change_stays_pending_and_says_so() -> None:
    item = proposal([])
    later = datetime(2027, 1, 5, tzinfo=UTC)
    posture = evaluate(Dossier(V, subprocessors=(item,)), RULES, later)
    assert posture.standing is Standing.pending_review  # silence is not approval
    assert posture.reasons[0].endswith("(objection window ended 2026-12-28 without a decision)")


def test_new_terms_for_a_listed_sub_processor_are_a_change_that_replaces_it() -> None:
    listed = proposal([]).approved("cli:dpo", NOW)
    change = proposal([listed], name="cloudstore", locations=("US", "IN"))
    assert (change.change, change.replaces) == ("changed", listed.id)
    assert change.reason(NOW.date()).startswith("Sub-processor cloudstore changed 2026-11-28")
    with pytest.raises(RegistrationError, match="with these terms"):
        proposal([listed], locations=("US",))  # nothing would change
    with pytest.raises(RegistrationError, match="pending already"):
        proposal([listed, change], locations=("DE",))


def test_the_hold_is_the_first_pending_change_s_snapshot() -> None:
    first = proposal([])
    second = replace(
        proposal([first.approved("x", NOW)], name="Mailer", service="e-mail"),
        scopes_at_proposal={ClientId("lab"): "system/*.rs"}, proposed_at=NOW + timedelta(days=1),
    )  # fmt: skip
    assert held_scopes([second, first]) == SCOPES


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("data_categories", (), "data_categories"),
        ("data_categories", ("Lab Results",), "data_categories"),
        ("locations", ("Mars",), "locations"),
        ("locations", (), "locations"),
        ("service", " ", "service"),
    ],
)
def test_a_proposal_names_the_field_it_lacks(field: str, value: object, message: str) -> None:
    with pytest.raises(RegistrationError) as refused:
        proposal([], **{field: value})
    assert refused.value.field == message
