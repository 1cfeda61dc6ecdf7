from __future__ import annotations

import json

from phigate.guard.issues import InputRefused, Issue, outcome, status_of
from phigate.guard.validation import GuardConfig, inspect_request

CONFIG = GuardConfig()
JSON_CT = [("Content-Type", "application/fhir+json")]
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def rules_of(
    method: str, path: bytes, query: str = "", headers: list[tuple[str, str]] | None = None, body: bytes = b""
) -> list[str]:
    issues = inspect_request(method, path, query, headers or [], body, CONFIG)
    return [issue.rule for issue in issues if issue.blocking]


def test_a_clean_create_and_search_pass() -> None:
    assert rules_of("POST", b"/fhir/Observation", headers=JSON_CT, body=json.dumps(OBS).encode()) == []
    assert rules_of("GET", b"/fhir/Observation?code=1", "code=1") == []


def test_every_layer_is_reached() -> None:
    assert rules_of("GET", b"/fhir/patient") == ["path.type-case"]
    assert rules_of("TRACE", b"/fhir/Patient") == ["request.malformed"]
    assert rules_of("GET", b"/fhir/Patient?ssn=1", "ssn=1") == ["search.unknown-param"]
    assert rules_of("GET", b"/fhir/Patient?name=<script>", "name=<script>") == ["script.tag"]
    assert rules_of("POST", b"/fhir/Observation", headers=[("Content-Type", "text/plain")], body=b"x") == [
        "media.unsupported"
    ]
    assert rules_of("POST", b"/fhir/Observation", headers=JSON_CT, body=b'{"a":1,"a":1}') == [
        "json.duplicate-key"
    ]
    assert rules_of("PUT", b"/fhir/Observation/1", headers=JSON_CT, body=json.dumps(OBS).encode()) == [
        "fhir.id-mismatch"
    ]
    assert rules_of("GET", b"/fhir/Patient/1", headers=[("Accept", "text/html")]) == ["media.not-acceptable"]
    assert rules_of("GET", b"/fhir/Patient/1", headers=JSON_CT, body=b"{}") == ["body.unexpected"]


def test_lenient_prefer_turns_unknown_parameters_into_reports() -> None:
    issues = inspect_request(
        "GET", b"/fhir/Patient?ssn=1", "ssn=1", [("Prefer", "handling=lenient")], b"", CONFIG
    )
    assert [(i.rule, i.blocking) for i in issues] == [("search.unknown-param", False)]


def test_xml_create_is_parsed_safely() -> None:
    xml = b'<Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>'
    assert (
        rules_of("POST", b"/fhir/Patient", headers=[("Content-Type", "application/fhir+xml")], body=xml) == []
    )
    dtd = b'<!DOCTYPE x [<!ENTITY e "e">]>' + xml
    assert rules_of(
        "POST", b"/fhir/Patient", headers=[("Content-Type", "application/fhir+xml")], body=dtd
    ) == ["xml.dtd"]


def test_outcome_has_one_issue_per_problem_and_the_right_status() -> None:
    issues = [
        Issue("Observation.status", "fhir.required", "A required element is missing."),
        Issue("name", "sql.tautology", "x", 400, "security"),
        Issue("x", "r", "m", 415, blocking=False),
    ]
    rendered = outcome(issues)
    assert [i["expression"] for i in rendered["issue"]] == [["Observation.status"], ["name"], ["x"]]
    assert rendered["issue"][0]["details"]["coding"][0]["code"] == "fhir.required"
    assert rendered["issue"][2]["severity"] == "warning"
    assert status_of(issues) == 400
    assert status_of(issues[:1]) == 422
    refused = InputRefused(issues)
    assert (refused.status, refused.outcome()) == (400, rendered)
