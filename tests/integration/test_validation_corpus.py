"""Every request of the malicious corpus is refused; the official examples and realistic searches pass."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from phigate.guard.issues import blocking, status_of
from phigate.guard.search_rules import SearchPolicy
from phigate.guard.validation import GuardConfig, inspect_request

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "malicious"
CONFIG = GuardConfig(search=SearchPolicy(includes=frozenset({"Observation:subject", "Observation:patient"})))
JSON_CT = [("Content-Type", "application/fhir+json; charset=utf-8")]


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        group = json.loads(path.read_text(encoding="utf-8"))
        cases += [(group["class"], request) for request in group["requests"]]
    return cases


CASES = _corpus()


def _body(request: dict[str, Any]) -> bytes:
    if "body_b64" in request:
        return base64.b64decode(request["body_b64"])
    body: str = request["body"]
    if "pad" in request:
        body = body.replace("{pad}", "a" * request["pad"])
    return body.encode("utf-8")


def _run(request: dict[str, Any]) -> list[Any]:
    headers = [(name, value) for name, value in request["headers"]]
    raw_path = request["path"].encode("utf-8") + (
        b"?" + request["query"].encode() if request["query"] else b""
    )
    return inspect_request(request["method"], raw_path, request["query"], headers, _body(request), CONFIG)


def test_corpus_is_large_and_grouped() -> None:
    classes = {cls for cls, _ in CASES}
    print(f"\nmalicious corpus: {len(CASES)} requests in {len(classes)} classes")
    assert len(CASES) >= 200
    assert len(classes) >= 10
    assert len({r["name"] for _, r in CASES}) == len(CASES)


@pytest.mark.parametrize(("cls", "request_"), CASES, ids=[r["name"] for _, r in CASES])
def test_malicious_request_is_refused(cls: str, request_: dict[str, Any]) -> None:
    issues = blocking(_run(request_))
    assert issues, f"{cls}/{request_['name']} was accepted"
    assert status_of(issues) in (400, 404, 405, 406, 413, 414, 415, 422)
    payload = _body(request_).decode("utf-8", "replace")
    for issue in issues:  # never echo the attack back
        assert len(payload) < 8 or payload not in issue.message


def _create(resource: dict[str, Any]) -> list[Any]:
    body = json.dumps(resource).encode()
    path = f"/fhir/{resource['resourceType']}".encode()
    return blocking(inspect_request("POST", path, "", JSON_CT, body, CONFIG))


def test_official_examples_are_accepted_as_creates(fhir_examples: list[tuple[str, dict[str, Any]]]) -> None:
    known = json.loads((CORPUS.parent / "known_invalid_examples.json").read_text())["examples"]
    # The full inspection of the large conformance Bundles (100+ MB of text) is in the slow test.
    small = [(n, r) for n, r in fhir_examples if len(json.dumps(r)) <= 256 * 1024]
    refused = {name: _create(resource) for name, resource in small if name not in known}
    refused = {name: issues for name, issues in refused.items() if issues}
    print(f"\nexamples submitted: {len(small)}, known defects skipped: {len(known)}, refused: {len(refused)}")
    assert not refused, {
        name: [(i.rule, i.expression) for i in issues[:3]] for name, issues in refused.items()
    }


REALISTIC_SEARCHES = [
    ("/fhir/Patient", "family=Chalmers&given=Peter&birthdate=ge1974-12-25"),
    ("/fhir/Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|12345&_count=20"),
    ("/fhir/Patient", "name:contains=eve&gender=female&_sort=-birthdate"),
    ("/fhir/Patient", "address-city=Amsterdam&active=true&_summary=true"),
    ("/fhir/Patient", "_id=example,pat2&_lastUpdated=gt2019-01-01T00:00:00Z"),
    ("/fhir/Patient", "general-practitioner:Practitioner.name=Adam"),
    ("/fhir/Patient", "name=O%27Brien"),
    (
        "/fhir/Observation",
        "subject=Patient/example&code=http://loinc.org|29463-7&date=ge2020-01-01&_include=Observation:subject",
    ),
    ("/fhir/Observation", "patient=example&category=vital-signs&_sort=-date&_count=50"),
    ("/fhir/Observation", "value-quantity=gt5.4|http://unitsofmeasure.org|mg&status=final,amended"),
    ("/fhir/Observation", "code:text=glucose&subject:Patient=123&_elements=id,code"),
    ("/fhir/Observation", "code-value-quantity=http://loinc.org|8480-6$gt140"),
    ("/fhir/Condition", "patient=Patient/123&clinical-status=active&onset-date=le2021"),
    ("/fhir/MedicationRequest", "patient=123&status=active&intent=order"),
    ("/fhir/Encounter", "patient=123&date=ge2021-01-01&date=lt2021-02-01&class=AMB"),
    ("/fhir/Observation", "patient=123&_has:DiagnosticReport:result:status=final"),
    ("/fhir/Practitioner", "name=Smith&_count=10"),
    ("/fhir/Patient", "email:missing=true"),
    ("/fhir", "_type=Patient,Observation&_lastUpdated=ge2021"),
    ("/fhir/Patient/123/Observation", "code=1234-5"),
]


@pytest.mark.parametrize(("path", "query"), REALISTIC_SEARCHES)
def test_realistic_searches_are_accepted(path: str, query: str) -> None:
    raw = f"{path}?{query}".encode()
    assert not blocking(
        inspect_request("GET", raw, query, [("Accept", "application/fhir+json")], b"", CONFIG)
    )


@pytest.mark.slow
def test_every_official_example_passes_inspection(fhir_examples: list[tuple[str, dict[str, Any]]]) -> None:
    from phigate.guard.inspection import default_rules, inspect_json

    rules = default_rules()
    flagged = {name: hits for name, resource in fhir_examples if (hits := inspect_json(resource, rules))}
    print(f"\nexamples inspected: {len(fhir_examples)}, flagged: {len(flagged)}")
    assert not flagged, {name: [(i.rule, i.expression) for i in hits[:3]] for name, hits in flagged.items()}
