from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from phigate.guard.resource_validation import validate_bundle, validate_json_patch, validate_resource

KNOWN = Path(__file__).resolve().parents[2] / "fixtures" / "known_invalid_examples.json"
OBS: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "glucose"}}


def rules(issues: list[Any]) -> list[tuple[str, str]]:
    return [(issue.expression, issue.rule) for issue in issues]


def test_official_examples_pass_except_documented_defects(
    fhir_examples: list[tuple[str, dict[str, Any]]],
) -> None:
    known = json.loads(KNOWN.read_text())["examples"]
    refused = {name for name, resource in fhir_examples if validate_resource(resource)}
    print(f"\nexamples: {len(fhir_examples)}, refused: {len(refused)}, documented defects: {len(known)}")
    assert refused == set(known)


def test_cost_per_typical_resource_is_reported(fhir_examples: list[tuple[str, dict[str, Any]]]) -> None:
    resource = dict(fhir_examples)["Observation-example.json"]
    start = time.perf_counter()
    for _ in range(200):
        assert validate_resource(resource, expected_type="Observation") == []
    print(f"\nvalidate Observation-example: {(time.perf_counter() - start) / 200 * 1000:.3f} ms")


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({**OBS, "bogus": 1}, ("Observation.bogus", "fhir.unknown-element")),
        ({"resourceType": "Observation", "code": {"text": "x"}}, ("Observation.status", "fhir.required")),
        ({**OBS, "identifier": {"value": "x"}}, ("Observation.identifier", "fhir.cardinality")),
        ({**OBS, "status": ["final"]}, ("Observation.status", "fhir.cardinality")),
        ({**OBS, "issued": "2020-01-01"}, ("Observation.issued", "fhir.primitive")),
        ({**OBS, "valueInteger": 2**31}, ("Observation.valueInteger", "fhir.primitive")),
        ({**OBS, "valueBoolean": "true"}, ("Observation.valueBoolean", "fhir.primitive")),
        ({**OBS, "valueString": "a", "valueBoolean": True}, ("Observation.valueBoolean", "fhir.choice")),
        ({**OBS, "id": "a/b"}, ("Observation.id", "fhir.id-format")),
        ({**OBS, "note": []}, ("Observation.note", "fhir.empty")),
        ({**OBS, "code": {}}, ("Observation.code", "fhir.empty")),
        ({**OBS, "code": {"text": ""}}, ("Observation.code.text", "fhir.primitive")),
        ({**OBS, "component": [{"valueString": "x"}]}, ("Observation.component[0].code", "fhir.required")),
        (
            {**OBS, "subject": {"reference": "Patient/a b"}},
            ("Observation.subject.reference", "fhir.reference"),
        ),
        (
            {**OBS, "subject": {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}},
            ("Observation.subject.reference", "fhir.reference"),
        ),
        ({**OBS, "contained": [{"resourceType": "Nope"}]}, ("Observation.contained[0]", "fhir.unknown-type")),
        ({**OBS, "_status": "x"}, ("Observation._status", "fhir.primitive-element")),
    ],
)
def test_structural_problems_are_named(resource: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in rules(validate_resource(resource))


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/1",
        "Patient/1/_history/2",
        "#p1",
        "#",
        "https://fhir.example.org/r4/Patient/1",
        "http://x.example/a",
    ],
)
def test_well_formed_references(reference: str) -> None:
    assert validate_resource({**OBS, "subject": {"reference": reference}}) == []


def test_url_type_and_id_must_match() -> None:
    assert rules(validate_resource(OBS, expected_type="Patient")) == [("resourceType", "fhir.type-mismatch")]
    issues = validate_resource({**OBS, "id": "2"}, expected_type="Observation", expected_id="1")
    assert [(i.rule, i.status) for i in issues] == [("fhir.id-mismatch", 400)]
    assert validate_resource({**OBS, "id": "1"}, expected_type="Observation", expected_id="1") == []


def test_primitive_extensions_align_with_their_values() -> None:
    name = {
        "given": ["a", None],
        "_given": [None, {"extension": [{"url": "http://x.example", "valueString": "b"}]}],
    }
    assert validate_resource({"resourceType": "Patient", "name": [name]}) == []
    bad = {"given": ["a", None], "_given": [None]}
    assert ("Patient.name[0]._given", "fhir.primitive-element") in rules(
        validate_resource({"resourceType": "Patient", "name": [bad]})
    )


def transaction(*resources: dict[str, Any]) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e{i}",
            "resource": r,
            "request": {"method": "POST", "url": r["resourceType"]},
        }
        for i, r in enumerate(resources)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_bundle_entries_are_checked_one_by_one_and_named() -> None:
    subject = {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}
    bundle = transaction({"resourceType": "Patient"}, {**OBS, "subject": subject}, {**OBS, "issued": "x"})
    assert rules(validate_bundle(bundle)) == [("Bundle.entry[2].resource.issued", "fhir.primitive")]


def test_conditional_references_only_in_transactions() -> None:
    obs = {**OBS, "subject": {"reference": "Patient?identifier=http://x.example|1"}}
    assert validate_bundle(transaction(obs)) == []
    assert rules(validate_resource(obs)) == [("Observation.subject.reference", "fhir.reference")]


def test_a_bundle_posted_to_the_base_must_be_batch_or_transaction() -> None:
    assert ("Bundle.type", "fhir.bundle-type") in rules(
        validate_bundle({"resourceType": "Bundle", "type": "searchset"})
    )
    entry_without_request = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": OBS}]}
    assert ("Bundle.entry[0]", "fhir.bundle-request") in rules(validate_bundle(entry_without_request))


def test_deep_nesting_is_bounded() -> None:
    resource: dict[str, Any] = {"resourceType": "Patient"}
    for _ in range(100):
        resource = {"resourceType": "Patient", "contained": [resource]}
    assert any(issue.rule == "fhir.too-deep" for issue in validate_resource(resource))


def test_json_patch() -> None:
    ok = [
        {"op": "replace", "path": "/active", "value": False},
        {"op": "test", "path": "/id", "value": "1"},
        {"op": "move", "from": "/name/0", "path": "/name/1"},
    ]
    assert validate_json_patch(ok) == []
    assert rules(validate_json_patch([{"op": "replace", "path": "/id", "value": "2"}])) == [
        ("$[0].path", "patch.protected")
    ]
    assert rules(validate_json_patch([{"op": "add", "path": "/x"}])) == [("$[0].value", "patch.missing")]
    assert rules(validate_json_patch([{"op": "add", "path": "x", "value": 1}])) == [
        ("$[0].path", "patch.pointer")
    ]
    assert rules(validate_json_patch({})) == [("$", "patch.shape")]


def test_messages_never_carry_the_value() -> None:
    issues = validate_resource({**OBS, "issued": "Jane Doe 555-12-3456"})
    assert issues and all("Jane" not in issue.message for issue in issues)
