"""Access reviews without a store: flags from evidence of use, the data contract, decisions, grants (A.7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from phigate.oauth.jose import generate_client_key
from phigate.settings.contracts import ContractsSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.assessment import assess
from phigate.vendors.clients import OAuthClient, new_client
from phigate.vendors.dossier import Dossier
from phigate.vendors.grants import GrantRefused, check_new_client, grace_since, widened
from phigate.vendors.records import RegistrationError
from phigate.vendors.reviews import Decision, contract_of, decide, start_review
from phigate.vendors.usage import Use

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def client(scopes: str = "system/Observation.rs system/Patient.r system/Claim.s") -> OAuthClient:
    _, public = generate_client_key("ES384")
    made = new_client(
        vendor_id=V, name="lab", scopes=scopes, jwks={"keys": [{**public, "kid": "k1"}]}, now=NOW
    )
    return replace(made, client_id=ClientId("lab"))


def use(rtype: str, interaction: str, count: int, days_ago: float) -> Use:
    return Use(ClientId("lab"), rtype, interaction, count, NOW - timedelta(days=days_ago))


def test_a_scope_is_used_by_what_it_covers_within_the_period_and_flagged_otherwise() -> None:
    uses = [
        use("Observation", "search", 5, 3), use("Observation", "read", 2, 10), use("Patient", "read", 1, 91),
        use("Claim", "read", 4, 1), use("Observation", "operation", 9, 1),
    ]  # fmt: skip
    review = start_review("rev-1", [client()], uses, NOW, unused_days=90, due_days=14)
    items = {item.scope: item for item in review.items}
    observed = items["system/Observation.rs"]
    assert (observed.flagged, observed.uses, observed.by_type, observed.by_interaction) == (
        False, 7, {"Observation": 7}, {"search": 5, "read": 2},
    )  # fmt: skip
    assert observed.last_used == NOW - timedelta(days=3)
    assert items["system/Patient.r"].flagged and items["system/Patient.r"].last_used is None  # 91 days ago
    assert items["system/Claim.s"].flagged  # reads of Claim do not use a search-only scope
    assert review.due_on == date(2026, 12, 12) and review.open and review.pending == 3


def test_disabled_clients_are_not_reviewed() -> None:
    disabled = client().with_status(client().status.__class__("disabled"), NOW)
    assert start_review("rev-1", [disabled], [], NOW, unused_days=90, due_days=14).items == ()


def test_each_item_names_the_data_contract_that_applies() -> None:
    contracts = ContractsSettings.model_validate(
        {"vendors": {"acme": {"resources": {"Observation": {"interactions": ["read", "search"]}}}}}
    )
    assert contract_of(client(), contracts) == "contracts.vendors.acme: Observation read/search"
    lab = {"resources": {"Patient": {"interactions": ["read"]}}}
    own = ContractsSettings.model_validate(
        {"clients": {"lab": lab}, "vendors": contracts.model_dump()["vendors"]}
    )
    assert contract_of(client(), own) == "contracts.clients.lab: Patient read"
    assert contract_of(client(), ContractsSettings()) is None
    review = start_review("rev-1", [client()], [], NOW, unused_days=90, due_days=14, contracts=contracts)
    assert {item.contract for item in review.items} == {"contracts.vendors.acme: Observation read/search"}


def test_decisions_close_the_review_and_bad_ones_are_refused() -> None:
    review = start_review("rev-1", [client("system/Patient.r system/Claim.s")], [], NOW, unused_days=90,
                          due_days=14)  # fmt: skip
    with pytest.raises(RegistrationError, match="decision: decide keep or revoke"):
        decide(review, "lab", "system/Patient.r", Decision.pending, "dpo", NOW)
    with pytest.raises(RegistrationError, match=r"the review has no scope 'system/Coverage\.r'"):
        decide(review, "lab", "system/Coverage.r", Decision.keep, "dpo", NOW)
    once = decide(review, "lab", "system/Patient.r", Decision.keep, "dpo", NOW)
    closed = decide(once, "lab", "system/Claim.s", Decision.revoke, "dpo", NOW)
    assert not closed.open and closed.closed_at == NOW and not closed.overdue(NOW + timedelta(days=30))
    with pytest.raises(RegistrationError, match="the review is closed"):
        decide(closed, "lab", "system/Claim.s", Decision.keep, "dpo", NOW)


def vendor_reviewed(review_due: date) -> Dossier:
    return Dossier(V, assessment=replace(assess("as-1", V, {}, "ciso", NOW - timedelta(days=400)),
                                         review_due=review_due))  # fmt: skip


def test_a_new_scope_is_added_while_the_security_review_is_current() -> None:
    current = vendor_reviewed(NOW.date())  # due today: not overdue yet
    assert (
        widened("system/Patient.r", "system/Claim.s", current, NOW.date())
        == "system/Claim.s system/Patient.r"
    )
    assert widened("system/Patient.r", "system/Patient.r", current, NOW.date()) == "system/Patient.r"
    assert widened("system/Patient.r", "system/Claim.s", Dossier(V), NOW.date()).startswith("system/Claim.s")


def test_an_overdue_security_review_refuses_new_scopes_with_409_and_keeps_held_ones() -> None:
    overdue = vendor_reviewed(NOW.date() - timedelta(days=1))
    assert grace_since(overdue, NOW.date()) == date(2026, 11, 27)
    with pytest.raises(GrantRefused) as refused:
        widened("system/Patient.r", "system/Claim.s", overdue, NOW.date())
    assert (refused.value.status, refused.value.code) == (409, "conflict")
    assert (
        "overdue since 2026-11-27" in refused.value.message
        and "keep the scopes they hold" in refused.value.message
    )
    assert widened("system/Patient.r", "system/Patient.r", overdue, NOW.date()) == "system/Patient.r"


def test_a_malformed_scope_is_refused_naming_the_field() -> None:
    with pytest.raises(RegistrationError, match=r"^scopes: "):
        widened("system/Patient.r", "system/Patient.zz", Dossier(V), NOW.date())


def test_a_new_or_re_enabled_client_is_a_new_grant_refused_in_grace() -> None:
    check_new_client(vendor_reviewed(NOW.date()), NOW.date())  # current review: admitted
    check_new_client(Dossier(V), NOW.date())  # never assessed: the posture engine decides, not grants
    with pytest.raises(GrantRefused) as refused:
        check_new_client(vendor_reviewed(NOW.date() - timedelta(days=1)), NOW.date())
    assert refused.value.status == 409 and "no client is added or enabled" in refused.value.message
