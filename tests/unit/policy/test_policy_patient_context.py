"""A patient-context token is confined to its patient's compartment, in the request and in the answer."""

from __future__ import annotations

import pytest

from phigate.fhir.parser import parse_request
from phigate.policy.access import decide
from phigate.policy.checks import check_bundle, check_resource
from phigate.policy.decisions import (
    COMPARTMENT,
    AccessDecision,
    CheckCurrent,
    CheckRequest,
    CheckResponse,
    NarrowSearch,
)
from phigate.policy.grants import Grant
from phigate.policy.scopes import Context, ScopeSet
from phigate.types import ClientId, PatientId

ME = PatientId("p1")
ALL = "patient/*.cruds launch/patient"


def decision(method: str, path: str, query: str = "", scopes: str = ALL) -> AccessDecision:
    grant = Grant(ScopeSet.parse(scopes), ClientId("app-1"), ME)
    return decide(parse_request(method, path, query), grant)


def narrowing(result: AccessDecision) -> tuple[tuple[str, str], ...]:
    narrow = result.obligation(NarrowSearch)
    return () if narrow is None else narrow.params


def check_of(result: AccessDecision) -> CheckResponse:
    check = result.obligation(CheckResponse)
    assert check is not None, result
    return check


def test_only_patient_scopes_apply_in_patient_context() -> None:
    grant = Grant(ScopeSet.parse("system/*.cruds user/*.cruds"), ClientId("app-1"), ME)
    assert grant.context is Context.PATIENT
    result = decide(parse_request("GET", "/Patient/p1", ""), grant)
    assert not result.allowed and result.missing == "patient/Patient.r"


# -- reads -------------------------------------------------------------------------------------


def test_reading_the_patient_is_allowed_and_another_patient_is_denied() -> None:
    own = decision("GET", "/Patient/p1")
    assert own.allowed and check_of(own).patient == ME
    for path in ["/Patient/p2", "/Patient/p2/_history/1", "/Patient/p2/_history"]:
        other = decision("GET", path)
        assert not other.allowed and other.missing == COMPARTMENT


def test_reads_of_compartment_types_are_checked_after_the_upstream_answers() -> None:
    result = decision("GET", "/Observation/o1")
    check = check_of(result)
    assert result.allowed and check.patient == ME
    mine = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}
    theirs = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p2"}}
    assert check_resource(mine, check).allowed
    refused = check_resource(theirs, check)
    assert not refused.allowed and refused.missing == COMPARTMENT


@pytest.mark.parametrize("path", ["/Practitioner/1", "/Organization/1", "/Medication/1", "/Location/1"])
def test_types_outside_the_compartment_are_denied(path: str) -> None:
    result = decision("GET", path)
    assert not result.allowed and result.missing == COMPARTMENT


def test_instance_history_is_a_checked_read_and_type_or_system_history_is_denied() -> None:
    assert check_of(decision("GET", "/Observation/o1/_history")).patient == ME
    for path in ["/Observation/_history", "/_history", "/Patient/_history"]:
        result = decision("GET", path)
        assert not result.allowed and result.missing == COMPARTMENT


# -- searches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/Observation", ("subject", "Patient/p1")),
        ("/Condition", ("patient", "Patient/p1")),
        ("/Encounter", ("patient", "Patient/p1")),
        ("/Coverage", ("beneficiary", "Patient/p1")),
        ("/Patient", ("_id", "p1")),
    ],
)
def test_searches_are_narrowed_to_the_patient(path: str, expected: tuple[str, str]) -> None:
    result = decision("GET", path, "code=x" if path != "/Patient" else "name=x")
    assert result.allowed
    assert narrowing(result) == (expected,)
    assert check_of(result).patient == ME


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/Observation", "subject=Patient/p1"),
        ("/Observation", "subject:Patient=p1"),
        ("/Observation", "subject=https://ehr.example/fhir/Patient/p1"),
        ("/Condition", "patient=p1"),
        ("/Patient", "_id=p1"),
    ],
)
def test_searches_already_confined_to_the_patient_are_not_narrowed_again(path: str, query: str) -> None:
    result = decision("GET", path, query)
    assert result.allowed and narrowing(result) == ()


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/Observation", "subject=Patient/p2"),
        ("/Observation", "subject=Patient/p1,Patient/p2"),
        ("/Observation", "patient=p2"),
        ("/Observation", "performer=Patient/p2"),
        ("/Observation", "focus=Patient/p2"),
        ("/Condition", "patient:Patient=p2"),
        ("/Patient", "_id=p2"),
        ("/Patient", "_id=p1,p2"),
        ("/", "_type=Observation&subject=Patient/p2"),
        ("/Patient/p1/Observation", "subject=Patient/p2"),
    ],
)
def test_searches_naming_another_patient_are_denied(path: str, query: str) -> None:
    result = decision("GET", path, query)
    assert not result.allowed and result.missing == COMPARTMENT
    assert "p2" not in result.reason


def test_searches_of_types_outside_the_compartment_are_denied() -> None:
    for path in ["/Practitioner", "/Medication", "/Organization"]:
        assert not decision("GET", path).allowed


def test_system_search_only_with_one_type() -> None:
    one = decision("GET", "/", "_type=Observation")
    assert one.allowed and narrowing(one) == (("subject", "Patient/p1"),)
    for query in ["", "_type=Observation,Condition", "code=x"]:
        result = decision("GET", "/", query)
        assert not result.allowed and result.missing == COMPARTMENT


def test_compartment_search_only_for_the_patient() -> None:
    own = decision("GET", "/Patient/p1/Observation")
    assert own.allowed and check_of(own).patient == ME
    assert decision("GET", "/Patient/p1/*").allowed
    for path in ["/Patient/p2/Observation", "/Patient/p2/*", "/Encounter/e1/Observation"]:
        result = decision("GET", path)
        assert not result.allowed and result.missing == COMPARTMENT


def test_compartment_wildcard_needs_the_wildcard_scope() -> None:
    result = decision("GET", "/Patient/p1/*", scopes="patient/Observation.rs")
    assert not result.allowed and result.missing == "patient/*.s"


# -- _include, _revinclude, _has, chains ------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "_include=Observation:subject",
        "_include=Observation:subject:Patient",
        "_include=Observation:encounter:Encounter",
        "_revinclude=Provenance:target",
    ],
)
def test_includes_into_the_compartment_are_allowed_and_checked(query: str) -> None:
    result = decision("GET", "/Observation", query)
    assert result.allowed and check_of(result).patient == ME


@pytest.mark.parametrize(
    "query",
    [
        "_include=Observation:performer:Practitioner",
        "_include=Observation:subject:Location",
        "_include:iterate=Observation:has-member:Observation",
        "_include=*",
        "_include=Observation:*",
        "_include=Condition:subject",
        "_revinclude=Medication:ingredient",
        "_revinclude:iterate=Provenance:target",
        "_revinclude=*",
    ],
)
def test_includes_leaving_the_compartment_are_denied(query: str) -> None:
    result = decision("GET", "/Observation", query)
    assert not result.allowed, query


def test_includes_need_read_of_the_added_type() -> None:
    result = decision("GET", "/Observation", "_revinclude=Provenance:target", scopes="patient/Observation.rs")
    assert not result.allowed and result.missing == "patient/Provenance.r"


def test_included_resources_of_another_patient_are_dropped_from_the_answer() -> None:
    check = check_of(decision("GET", "/Observation", "_include=Observation:subject"))
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}},
            {"resource": {"resourceType": "Patient", "id": "p1"}},
            {"resource": {"resourceType": "Patient", "id": "p2"}},
            {"resource": {"resourceType": "Practitioner", "id": "d1"}},
            {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
            {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "match"}},
        ],
    }
    assert check_bundle(bundle, check) == (2, 3, 5)


@pytest.mark.parametrize("query", ["_has:Observation:patient:code=x", "_has:Observation:subject:_id=o1"])
def test_has_is_denied(query: str) -> None:
    result = decision("GET", "/Patient", query)
    assert not result.allowed and result.missing == COMPARTMENT


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/Observation", "subject.name=x"),
        ("/Observation", "subject:Patient.name=x"),
        ("/Condition", "patient.identifier=x"),
    ],
)
def test_chains_through_the_patient_reference_are_allowed(path: str, query: str) -> None:
    assert decision("GET", path, query).allowed


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/Observation", "performer.name=x"),
        ("/Observation", "performer:Practitioner.name=x"),
        ("/Observation", "encounter.status=x"),
        ("/Observation", "subject:Group.name=x"),
        ("/Observation", "subject:Patient.organization.name=x"),
        ("/Patient", "general-practitioner.name=x"),
        ("/Patient", "link.name=x"),
    ],
)
def test_chains_through_other_references_are_denied(path: str, query: str) -> None:
    result = decision("GET", path, query)
    assert not result.allowed and result.missing == COMPARTMENT


# -- operations --------------------------------------------------------------------------------


def test_everything_only_on_the_patient() -> None:
    own = decision("GET", "/Patient/p1/$everything")
    assert own.allowed and check_of(own).patient == ME
    other = decision("GET", "/Patient/p2/$everything")
    assert not other.allowed and other.missing == COMPARTMENT


def test_other_operations_are_denied() -> None:
    for path in [
        "/Observation/$lastn",
        "/Patient/p1/$meta",
        "/Patient/$match",
        "/$export",
        "/Group/g/$export",
    ]:
        assert not decision("GET", path).allowed, path


# -- writes ------------------------------------------------------------------------------------


def test_writes_are_checked_against_the_compartment() -> None:
    created = decision("POST", "/Observation")
    body = created.obligation(CheckRequest)
    assert created.allowed and body is not None and body.check.patient == ME
    elsewhere = {"resourceType": "Observation", "subject": {"reference": "Patient/p2"}}
    assert not check_resource(elsewhere, body.check).allowed
    updated = decision("PUT", "/Observation/o1")
    current = updated.obligation(CheckCurrent)
    assert current is not None and current.check.patient == ME
    assert updated.obligation(CheckRequest) is not None
    assert decision("DELETE", "/Observation/o1").obligation(CheckCurrent) is not None
    assert decision("PUT", "/Patient/p1").allowed


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("POST", "/Patient", ""),
        ("PUT", "/Patient/p2", ""),
        ("DELETE", "/Patient/p2", ""),
        ("PATCH", "/Observation/o1", ""),
        ("PUT", "/Observation", "code=x"),
        ("DELETE", "/Observation", "subject=Patient/p1"),
        ("POST", "/Practitioner", ""),
    ],
)
def test_writes_that_cannot_be_confined_are_denied(method: str, path: str, query: str) -> None:
    assert not decision(method, path, query).allowed
