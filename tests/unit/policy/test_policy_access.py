"""Access decisions outside patient context: permissions per interaction, constraints, bundles, operations."""

from __future__ import annotations

import pytest

from phigate.fhir.parser import parse_request
from phigate.fhir.request import FhirRequest
from phigate.policy.access import decide, decide_bundle, denied_entries
from phigate.policy.checks import check_resource
from phigate.policy.decisions import (
    AccessDecision,
    AuthoriseEntries,
    CheckCurrent,
    CheckRequest,
    CheckResponse,
    NarrowSearch,
)
from phigate.policy.grants import Grant
from phigate.policy.scopes import Context, ScopeSet
from phigate.types import ClientId, PatientId

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"


def grant(scopes: str, patient: str | None = None) -> Grant:
    return Grant(ScopeSet.parse(scopes), ClientId("lab-1"), None if patient is None else PatientId(patient))


def request(method: str, path: str, query: str = "") -> FhirRequest:
    return parse_request(method, path, query)


def decision(scopes: str, method: str, path: str, query: str = "") -> AccessDecision:
    return decide(request(method, path, query), grant(scopes))


def observation(category: str, *, subject: str = "Patient/p1") -> dict[str, object]:
    system, code = category.split("|")
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "category": [{"coding": [{"system": system, "code": code}]}],
        "code": {"text": "x"},
        "subject": {"reference": subject},
    }


# -- a system/Observation.rs token creating or reading other types ----------------------------

OBSERVATION_ONLY = [
    ("POST", "/Observation", "", "system/Observation.c"),
    ("PUT", "/Observation/1", "", "system/Observation.u"),
    ("PATCH", "/Observation/1", "", "system/Observation.u"),
    ("DELETE", "/Observation/1", "", "system/Observation.d"),
    ("DELETE", "/Observation", "code=x", "system/Observation.d"),
    ("GET", "/Patient/1", "", "system/Patient.r"),
    ("GET", "/Patient/1/_history/2", "", "system/Patient.r"),
    ("GET", "/Patient/1/_history", "", "system/Patient.r"),
    ("GET", "/Condition", "", "system/Condition.s"),
    ("POST", "/Condition/_search", "", "system/Condition.s"),
    ("POST", "/Patient", "", "system/Patient.c"),
    ("GET", "/", "", "system/*.s"),
    ("GET", "/", "_type=Observation,Patient", "system/Patient.s"),
    ("GET", "/_history", "", "system/*.s"),
    ("GET", "/Condition/_history", "", "system/Condition.s"),
    ("GET", "/Patient/1/Condition", "", "system/Condition.s"),
    ("GET", "/Patient/1/*", "", "system/*.s"),
    ("GET", "/Observation", "_include=Observation:subject:Patient", "system/Patient.r"),
    ("GET", "/Observation", "_revinclude=Provenance:target", "system/Provenance.r"),
    ("GET", "/Observation", "_has:Condition:subject:code=x", "system/Condition.s"),
    ("GET", "/Observation", "subject:Patient.name=x", "system/Patient.s"),
    ("GET", "/Observation", "subject.name=x", "system/*.s"),
    ("GET", "/Patient/1/$everything", "", "system/*.r"),
]


@pytest.mark.parametrize(("method", "path", "query", "missing"), OBSERVATION_ONLY)
def test_observation_grant_refuses_everything_else_naming_the_missing_permission(
    method: str, path: str, query: str, missing: str
) -> None:
    result = decision("system/Observation.rs", method, path, query)
    assert not result.allowed
    assert result.missing == missing
    assert result.obligations == ()


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/Observation/1", ""),
        ("HEAD", "/Observation/1", ""),
        ("GET", "/Observation/1/_history/3", ""),
        ("GET", "/Observation/1/_history", ""),
        ("GET", "/Observation", "code=1234-5&_count=10"),
        ("POST", "/Observation/_search", "code=1234-5"),
        ("GET", "/Observation/_history", ""),
        ("GET", "/", "_type=Observation"),
        ("GET", "/Patient/1/Observation", ""),
        ("GET", "/Observation", "subject:Observation.code=x"),
        ("GET", "/metadata", ""),
    ],
)
def test_observation_grant_allows_reads_and_searches_of_observations(
    method: str, path: str, query: str
) -> None:
    result = decision("system/Observation.rs", method, path, query)
    assert result.allowed, result.reason
    assert result.obligations == ()


def test_read_without_search_never_allows_search() -> None:
    assert decision("system/Observation.r", "GET", "/Observation/1").allowed
    for path, query in [("/Observation", ""), ("/Observation/_history", ""), ("/", "_type=Observation")]:
        result = decision("system/Observation.r", "GET", path, query)
        assert not result.allowed and result.missing == "system/Observation.s"


def test_search_without_read_never_allows_read() -> None:
    assert decision("system/Observation.s", "GET", "/Observation").allowed
    result = decision("system/Observation.s", "GET", "/Observation/1")
    assert not result.allowed and result.missing == "system/Observation.r"


def test_user_scopes_apply_and_name_the_user_context() -> None:
    assert decision("user/Observation.rs", "GET", "/Observation/1").allowed
    result = decision("user/Observation.rs", "GET", "/Condition/1")
    assert result.missing == "user/Condition.r"
    assert grant("user/Observation.rs").context is Context.USER


def test_patient_scopes_grant_nothing_without_a_patient_in_context() -> None:
    result = decision("patient/*.cruds", "GET", "/Observation/1")
    assert not result.allowed and result.missing == "system/Observation.r"


def test_capabilities_are_always_allowed() -> None:
    assert decision("", "GET", "/metadata").allowed
    assert decide(request("GET", "/metadata"), grant("patient/Observation.r", "p1")).allowed


def test_an_empty_grant_denies_by_default() -> None:
    for method, path in [("GET", "/Observation/1"), ("GET", "/Observation"), ("POST", "/Observation")]:
        assert not decision("openid fhirUser", method, path).allowed


def test_writes_outside_constraints_and_patient_context_carry_no_obligation() -> None:
    for method, path, query in [
        ("POST", "/Observation", ""),
        ("PUT", "/Observation/1", ""),
        ("PATCH", "/Observation/1", ""),
        ("DELETE", "/Observation/1", ""),
        ("PUT", "/Observation", "identifier=a|b"),
    ]:
        result = decision("system/Observation.cud", method, path, query)
        assert result.allowed and result.obligations == ()


# -- a category-constrained token reading another category ------------------------------------

CONSTRAINED = f"system/Observation.rs?category={LAB}"


def test_constrained_search_without_the_parameter_is_narrowed() -> None:
    result = decision(CONSTRAINED, "GET", "/Observation", "code=1234-5")
    assert result.allowed
    narrow = result.obligation(NarrowSearch)
    assert narrow == NarrowSearch((("category", LAB),))
    narrowed = narrow.apply(request("GET", "/Observation", "code=1234-5"))
    assert [(p.name, p.raw_values) for p in narrowed.params] == [("code", ("1234-5",)), ("category", (LAB,))]
    assert narrowed.to_query() == f"code=1234-5&category={LAB}"
    assert result.obligation(CheckResponse) is not None


def test_constrained_search_already_within_the_constraint_is_not_narrowed() -> None:
    result = decision(CONSTRAINED, "GET", "/Observation", f"category={LAB}")
    assert result.allowed and result.obligation(NarrowSearch) is None


@pytest.mark.parametrize(
    "query",
    [
        f"category={VITALS}",
        "category=vital-signs",
        "category=http://other.example/cs|laboratory",
        f"category={VITALS}&code=x",
    ],
)
def test_constrained_search_for_another_category_is_denied(query: str) -> None:
    result = decision(CONSTRAINED, "GET", "/Observation", query)
    assert not result.allowed
    assert result.missing == "system/Observation.s for the requested category"
    assert "vital" not in result.reason  # the request's values are never repeated


@pytest.mark.parametrize(
    "query", ["category=laboratory", f"category={LAB},{VITALS}", "category:not=x", "category:text=lab"]
)
def test_constrained_search_that_may_overlap_is_narrowed_not_trusted(query: str) -> None:
    result = decision(CONSTRAINED, "GET", "/Observation", query)
    assert result.allowed
    assert result.obligation(NarrowSearch) == NarrowSearch((("category", LAB),))


def test_two_granted_categories_narrow_to_either() -> None:
    scopes = f"{CONSTRAINED} system/Observation.rs?category={VITALS}"
    result = decision(scopes, "GET", "/Observation")
    assert result.obligation(NarrowSearch) == NarrowSearch((("category", f"{LAB},{VITALS}"),))
    assert decision(scopes, "GET", "/Observation", f"category={VITALS}").obligation(NarrowSearch) is None


def test_constraint_sets_on_different_parameters_must_be_chosen() -> None:
    scopes = f"{CONSTRAINED} system/Observation.rs?status=final"
    assert not decision(scopes, "GET", "/Observation").allowed
    chosen = decision(scopes, "GET", "/Observation", "status=final")
    assert chosen.allowed and chosen.obligation(NarrowSearch) is None


def test_an_unconstrained_scope_beside_a_constrained_one_wins() -> None:
    result = decision(f"{CONSTRAINED} system/*.rs", "GET", "/Observation")
    assert result.allowed and result.obligations == ()


def test_constrained_read_is_checked_after_the_upstream_answers() -> None:
    result = decision(CONSTRAINED, "GET", "/Observation/1")
    assert result.allowed
    check = result.obligation(CheckResponse)
    assert check is not None and check.patient is None
    assert check_resource(observation(LAB), check).allowed
    refused = check_resource(observation(VITALS), check)
    assert not refused.allowed
    assert refused.missing == "Observation within the granted scope constraints"


def test_constrained_types_cannot_be_searched_across_types() -> None:
    result = decision(f"{CONSTRAINED} system/Patient.rs", "GET", "/", "_type=Observation,Patient")
    assert not result.allowed and result.missing == "system/Observation.s"


def test_constrained_history_is_checked_entry_by_entry() -> None:
    result = decision(CONSTRAINED, "GET", "/Observation/_history")
    assert result.allowed and result.obligation(CheckResponse) is not None


def test_constrained_includes_are_checked_in_the_response() -> None:
    result = decision(f"{CONSTRAINED} system/DiagnosticReport.rs", "GET", "/DiagnosticReport",
                      "_include=DiagnosticReport:result")  # fmt: skip
    check = result.obligation(CheckResponse)
    assert result.allowed and check is not None
    assert check_resource(observation(LAB), check).allowed
    assert not check_resource(observation(VITALS), check).allowed
    assert not check_resource({"resourceType": "Patient", "id": "p1"}, check).allowed


def test_constrained_writes_check_the_body_and_the_current_version() -> None:
    scopes = f"system/Observation.cud?category={LAB}"
    created = decision(scopes, "POST", "/Observation")
    body = created.obligation(CheckRequest)
    assert created.allowed and body is not None and created.obligation(CheckCurrent) is None
    assert check_resource(observation(LAB), body.check).allowed
    assert not check_resource(observation(VITALS), body.check).allowed
    assert not check_resource({"resourceType": "Condition"}, body.check).allowed
    updated = decision(scopes, "PUT", "/Observation/1")
    assert updated.obligation(CheckRequest) is not None and updated.obligation(CheckCurrent) is not None
    deleted = decision(scopes, "DELETE", "/Observation/1")
    assert deleted.obligation(CheckRequest) is None and deleted.obligation(CheckCurrent) is not None
    for method, path, query in [("PATCH", "/Observation/1", ""), ("DELETE", "/Observation", "code=x")]:
        assert not decision(scopes, method, path, query).allowed


# -- search parameters that reach other types --------------------------------------------------


def test_type_is_only_for_system_search() -> None:
    result = decision("system/*.rs", "GET", "/Observation", "_type=Patient")
    assert not result.allowed


def test_includes_need_read_of_what_they_add_else_are_checked() -> None:
    scopes = "system/Observation.rs system/Patient.r"
    assert decision(scopes, "GET", "/Observation", "_include=Observation:subject:Patient").allowed
    untyped = decision(scopes, "GET", "/Observation", "_include=Observation:subject")
    check = untyped.obligation(CheckResponse)
    assert untyped.allowed and check is not None
    assert check_resource({"resourceType": "Patient", "id": "1"}, check).allowed
    assert not check_resource({"resourceType": "Group", "id": "1"}, check).allowed
    wildcard = decision(scopes, "GET", "/Observation", "_include:iterate=*")
    assert wildcard.allowed and wildcard.obligation(CheckResponse) is not None
    everything = decision("system/*.rs", "GET", "/Observation", "_include=*")
    assert everything.allowed and everything.obligations == ()


def test_has_and_chains_need_unconstrained_search_of_the_types_they_reach() -> None:
    scopes = f"system/Patient.rs system/Observation.rs?category={LAB}"
    assert not decision(scopes, "GET", "/Patient", "_has:Observation:patient:code=x").allowed
    assert decision("system/*.rs", "GET", "/Patient", "_has:Observation:patient:code=x").allowed
    assert decision("system/Patient.rs system/Organization.s", "GET", "/Patient",
                    "organization:Organization.name=x").allowed  # fmt: skip


# -- batch and transaction ---------------------------------------------------------------------


def test_a_bundle_is_allowed_only_as_a_container_of_entries_decided_one_by_one() -> None:
    result = decision("system/Observation.rs", "POST", "/")
    assert result.allowed and result.obligations == (AuthoriseEntries(),)


def test_a_batch_smuggling_a_forbidden_entry_has_that_entry_denied() -> None:
    entries = [
        request("GET", "/Observation/1"),
        request("POST", "/Patient"),
        request("GET", "/Observation", "code=x"),
        request("DELETE", "/Observation/2"),
        request("GET", "/Patient/7/$everything"),
        request("POST", "/"),
    ]
    decisions = decide_bundle(entries, grant("system/Observation.rs"))
    assert [d.allowed for d in decisions] == [True, False, True, False, False, False]
    assert denied_entries(decisions) == (1, 3, 4, 5)
    assert decisions[1].missing == "system/Patient.c"
    assert decisions[3].missing == "system/Observation.d"


def test_bundle_entries_carry_their_own_obligations() -> None:
    decisions = decide_bundle([request("GET", "/Observation"), request("GET", "/Observation/1")],
                              grant(CONSTRAINED))  # fmt: skip
    assert decisions[0].obligation(NarrowSearch) is not None
    assert decisions[1].obligation(CheckResponse) is not None


# -- operations --------------------------------------------------------------------------------


def test_unmodelled_operations_are_denied() -> None:
    for path in ["/Observation/$lastn", "/Patient/1/$meta", "/$reindex", "/ValueSet/$expand"]:
        result = decision("system/*.cruds", "GET", path)
        assert not result.allowed and result.missing is not None and "$" in result.missing


def test_everything_needs_read_and_search_of_every_type_or_of_each_listed_type() -> None:
    assert decision("system/*.rs", "GET", "/Patient/1/$everything").obligations == ()
    assert not decision("system/*.r", "GET", "/Patient/1/$everything").allowed
    listed = decision("system/Observation.rs system/Condition.rs", "GET", "/Patient/1/$everything",
                      "_type=Observation,Condition")  # fmt: skip
    check = listed.obligation(CheckResponse)
    assert listed.allowed and check is not None
    assert not check_resource({"resourceType": "Practitioner"}, check).allowed
    assert not decision(
        "system/Observation.rs", "GET", "/Patient/1/$everything", "_type=Observation,Condition"
    ).allowed
    assert not decision("system/*.rs", "GET", "/Patient/$everything").allowed


@pytest.mark.parametrize(
    ("path", "query"), [("/$export", ""), ("/Patient/$export", ""), ("/Group/g1/$export", "")]
)
def test_export_with_system_wildcard_is_allowed_as_asked(path: str, query: str) -> None:
    result = decision("system/*.rs", "GET", path, query)
    assert result.allowed and result.obligations == ()


def test_export_without_type_is_narrowed_to_the_granted_types() -> None:
    scopes = (
        "system/Observation.rs system/Condition.s system/Encounter.r system/DiagnosticReport.s?category=x"
    )
    result = decision(scopes, "GET", "/Group/g1/$export")
    assert result.allowed
    assert result.obligation(NarrowSearch) == NarrowSearch((("_type", "Condition,Observation"),))


def test_export_of_listed_types_needs_each_of_them() -> None:
    scopes = "system/Observation.rs system/Condition.rs"
    assert decision(scopes, "GET", "/$export", "_type=Observation,Condition").obligations == ()
    refused = decision(scopes, "GET", "/$export", "_type=Observation,Patient")
    assert not refused.allowed and refused.missing == "system/Patient.s"
    constrained = decision(CONSTRAINED, "GET", "/$export", "_type=Observation")
    assert not constrained.allowed and constrained.missing == "system/Observation.s"


@pytest.mark.parametrize(
    ("scopes", "method", "path"),
    [
        ("user/*.rs", "GET", "/$export"),
        ("system/*.rs", "POST", "/$export"),
        ("system/*.rs", "GET", "/Observation/$export"),
        ("system/*.rs", "GET", "/Patient/1/$export"),
        (CONSTRAINED, "GET", "/$export"),
    ],
)
def test_export_refusals(scopes: str, method: str, path: str) -> None:
    assert not decision(scopes, method, path).allowed


def test_export_is_refused_in_patient_context() -> None:
    result = decide(request("GET", "/Patient/$export"), grant("system/*.rs patient/*.rs", "p1"))
    assert not result.allowed and result.missing == "system/*.s"
