"""The response post-check on parsed resources; the element tables it reads, against R4."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from phigate.fhir.resources import PATIENT_COMPARTMENT
from phigate.policy.checks import check_bundle, check_resource
from phigate.policy.compartments import in_compartment, referenced_patient
from phigate.policy.decisions import COMPARTMENT, CheckResponse, TypeRule
from phigate.policy.elements import COMPARTMENT_PATHS, CONSTRAINT_PATHS, constraint_paths
from phigate.policy.scopes import Constraint
from phigate.types import PatientId

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
ME = PatientId("p1")


def rule(resource_type: str, *alternatives: tuple[Constraint, ...]) -> TypeRule:
    return TypeRule(resource_type, alternatives) if alternatives else TypeRule(resource_type)


def category(*values: str) -> tuple[Constraint, ...]:
    return (Constraint("category", values),)


LAB_CODED = {
    "resourceType": "Observation",
    "category": [
        {"coding": [{"system": "http://other.example", "code": "x"}]},
        {"coding": [{"system": CATEGORY_SYSTEM, "code": "laboratory"}], "text": "Lab"},
    ],
    "status": "final",
    "meta": {"tag": [{"system": "urn:x", "code": "research"}]},
    "subject": {"reference": "Patient/p1"},
}


@pytest.mark.parametrize(
    ("constraint", "allowed"),
    [
        (Constraint("category", (f"{CATEGORY_SYSTEM}|laboratory",)), True),
        (Constraint("category", ("laboratory",)), True),
        (Constraint("category", (f"{CATEGORY_SYSTEM}|",)), True),
        (Constraint("category", ("|laboratory",)), False),
        (Constraint("category", (f"{CATEGORY_SYSTEM}|vital-signs",)), False),
        (Constraint("category", ("http://other.example|laboratory",)), False),
        (Constraint("category", (f"{CATEGORY_SYSTEM}|vital-signs", "laboratory")), True),
        (Constraint("status", ("final",)), True),
        (Constraint("status", ("|final",)), True),
        (Constraint("status", ("preliminary",)), False),
        # a plain code has no system: a system-qualified token cannot be verified on it
        (Constraint("status", ("http://hl7.org/fhir/observation-status|final",)), False),
        (Constraint("_tag", ("urn:x|research",)), True),
        (Constraint("_tag", ("urn:x|other",)), False),
        (Constraint("code", ("1234-5",)), False),
    ],
)
def test_token_constraints_match_as_fhir_search_does(constraint: Constraint, allowed: bool) -> None:
    check = CheckResponse((rule("Observation", (constraint,)),))
    assert check_resource(LAB_CODED, check).allowed is allowed


def test_every_constraint_of_an_alternative_must_hold_and_any_alternative_suffices() -> None:
    lab = Constraint("category", ("laboratory",))
    final, amended = Constraint("status", ("final",)), Constraint("status", ("amended",))
    assert check_resource(LAB_CODED, CheckResponse((rule("Observation", (lab, final)),))).allowed
    assert not check_resource(LAB_CODED, CheckResponse((rule("Observation", (lab, amended)),))).allowed
    assert check_resource(LAB_CODED, CheckResponse((rule("Observation", (amended,), (lab,)),))).allowed


def test_constraints_on_identifier_coding_and_medication_choice_elements() -> None:
    request = {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049502"}]}}  # fmt: skip
    check = CheckResponse((rule("MedicationRequest", (Constraint("code", ("1049502",)),)),))
    assert check_resource(request, check).allowed
    assert not check_resource({"resourceType": "MedicationRequest"}, check).allowed
    encounter = {"resourceType": "Encounter", "class": {"system": "http://x", "code": "AMB"}}
    assert check_resource(
        encounter, CheckResponse((rule("Encounter", (Constraint("class", ("http://x|AMB",)),)),))
    ).allowed


def test_types_outside_the_rules_are_denied() -> None:
    check = CheckResponse((rule("Observation"),))
    refused = check_resource({"resourceType": "Patient", "id": "p1"}, check)
    assert not refused.allowed and refused.missing == "Patient"
    assert check_resource({"resourceType": "Patient"}, CheckResponse((rule("*"),))).allowed


@pytest.mark.parametrize("resource", [{}, {"resourceType": 3}, {"id": "x"}, []])
def test_resources_without_a_type_are_denied(resource: Any) -> None:
    assert not check_resource(resource, CheckResponse((rule("*"),))).allowed


@pytest.mark.parametrize(
    ("resource", "inside"),
    [
        ({"resourceType": "Patient", "id": "p1"}, True),
        # R4 puts a Patient linked through link.other in the compartment; only the patient's own record passes
        ({"resourceType": "Patient", "id": "p2", "link": [{"other": {"reference": "Patient/p1"}}]}, False),
        ({"resourceType": "Patient", "id": "p11"}, False),
        ({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}, True),
        ({"resourceType": "Observation", "subject": {"reference": "Patient/p1/_history/4"}}, True),
        (
            {"resourceType": "Observation", "subject": {"reference": "https://ehr.example/fhir/Patient/p1"}},
            True,
        ),
        (
            {
                "resourceType": "Observation",
                "subject": {"reference": "Patient/p2"},
                "performer": [{"reference": "Practitioner/d1"}, {"reference": "Patient/p1"}],
            },
            True,
        ),
        ({"resourceType": "Observation", "subject": {"reference": "Patient/p2"}}, False),
        ({"resourceType": "Observation", "subject": {"reference": "Group/p1"}}, False),
        ({"resourceType": "Observation", "subject": {"identifier": {"value": "p1"}}}, False),
        ({"resourceType": "Observation", "subject": "Patient/p1"}, False),
        ({"resourceType": "Observation", "focus": [{"reference": "Patient/p1"}]}, False),
        ({"resourceType": "Appointment", "participant": [{"actor": {"reference": "Patient/p1"}}]}, True),
        ({"resourceType": "Coverage", "beneficiary": {"reference": "Patient/p1"}}, True),
        ({"resourceType": "Practitioner", "id": "p1"}, False),
    ],
)
def test_compartment_membership(resource: dict[str, Any], inside: bool) -> None:
    assert in_compartment(resource, ME) is inside


def test_another_patient_record_fails_the_compartment_check_even_under_a_wildcard_rule() -> None:
    check = CheckResponse((rule("*"),), ME)
    refused = check_resource({"resourceType": "Patient", "id": "p2"}, check)
    assert not refused.allowed and refused.missing == COMPARTMENT


@pytest.mark.parametrize(
    ("reference", "patient"),
    [
        ("Patient/p1", "p1"),
        ("Patient/p1/_history/2", "p1"),
        ("http://x.example/fhir/Patient/a.b-c", "a.b-c"),
        ("Patient/", None),
        ("Patient/p1#x", None),
        ("Group/p1", None),
        ("p1", None),
        ("Patient/p1/Observation", None),
    ],
)
def test_patient_references(reference: str, patient: str | None) -> None:
    assert referenced_patient(reference) == patient


def test_check_bundle_names_the_entries_to_drop() -> None:
    check = CheckResponse((rule("Observation", category("laboratory")),), ME)
    lab = {"resourceType": "Observation", "category": [{"coding": [{"code": "laboratory"}]}],
           "subject": {"reference": "Patient/p1"}}  # fmt: skip
    vitals = {**lab, "category": [{"coding": [{"code": "vital-signs"}]}]}
    other = {**lab, "subject": {"reference": "Patient/p2"}}
    bundle = {"entry": [{"resource": lab}, {"resource": vitals}, {"resource": other},
                        {"request": {"method": "DELETE"}}, "junk", {"resource": lab}]}  # fmt: skip
    assert check_bundle(bundle, check) == (1, 2, 3, 4)
    assert check_bundle({"resourceType": "Bundle"}, check) == ()
    assert check_bundle({"entry": "x"}, check) == (0,)


# -- the element tables, against the R4 structure definitions ---------------------------------

_STRUCTURE = json.loads(
    resources.files("phigate.guard").joinpath("r4_structure.json").read_text(encoding="utf-8")
)["types"]
TOKEN_TYPES = {"CodeableConcept", "Coding", "code", "Identifier", "boolean"}


def element_types(resource_type: str, path: str) -> set[str]:
    """The types of the element at ``path``, following backbone and complex types."""
    current = {resource_type}
    for name in path.split("."):
        found: set[str] = set()
        for type_name in current:
            elements = _STRUCTURE.get(type_name, {})
            if name in elements:
                found.update(elements[name][2])
            for key, (_, _, types) in elements.items():
                if key.endswith("[x]") and name.startswith(key[:-3]) and name[len(key) - 3 :] in types:
                    found.add(name[len(key) - 3 :])
        current = found
    return current


def test_compartment_paths_cover_the_r4_compartment_and_are_references() -> None:
    assert set(COMPARTMENT_PATHS) == set(PATIENT_COMPARTMENT)
    for resource_type, paths in COMPARTMENT_PATHS.items():
        for path in paths:
            assert "Reference" in element_types(resource_type, path), (resource_type, path)


def test_constraint_paths_are_token_elements() -> None:
    for (resource_type, name), paths in CONSTRAINT_PATHS.items():
        for path in paths:
            assert element_types(resource_type, path) & TOKEN_TYPES, (resource_type, name, path)
    for name in ("_tag", "_security"):
        assert element_types("Observation", constraint_paths("Observation", name)[0]) == {"Coding"}
