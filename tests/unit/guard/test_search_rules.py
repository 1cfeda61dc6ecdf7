from __future__ import annotations

import pytest

from phigate.fhir.query import parse_query
from phigate.guard.search_rules import SearchPolicy, check_search, param_def, strict_from_prefer

POLICY = SearchPolicy(max_count=50, includes=frozenset({"Observation:subject"}), revincludes=frozenset())


def check(resource_type: str | None, query: str, policy: SearchPolicy = POLICY) -> list[tuple[str, str]]:
    parsed = parse_query(query)
    issues = check_search(resource_type, parsed.params, parsed.includes, parsed.revincludes, policy)
    return [(issue.expression, issue.rule) for issue in issues if issue.blocking]


def test_the_table_knows_r4_parameters_and_their_types() -> None:
    assert param_def("Observation", "code").type == "token"  # type: ignore[union-attr]
    assert param_def("Observation", "date").type == "date"  # type: ignore[union-attr]
    subject = param_def("Observation", "subject")
    assert subject is not None and subject.type == "reference" and "Patient" in subject.targets
    assert param_def("Patient", "_lastUpdated").type == "date"  # type: ignore[union-attr]
    assert param_def("Patient", "nosuch") is None


@pytest.mark.parametrize(
    ("resource_type", "query"),
    [
        ("Observation", "code=http://loinc.org|1234-5,http://loinc.org|4567-8&date=ge2020-01-01T10:00:00Z"),
        ("Observation", "subject:Patient=123&value-quantity=le5.4|http://unitsofmeasure.org|mg&_count=50"),
        ("Observation", "subject.name=Smith&_include=Observation:subject&code:not=abc&status:missing=false"),
        ("Patient", "name:exact=Eve&birthdate=1970&address-postalcode:contains=12&_sort=-_lastUpdated"),
        ("Patient", "_has:Observation:patient:code=1234-5&identifier:of-type=http://x|MR|123"),
        ("RiskAssessment", "probability=gt0.5"),
        (None, "_type=Patient&_lastUpdated=ge2020&_id=1"),
    ],
)
def test_valid_searches(resource_type: str | None, query: str) -> None:
    assert check(resource_type, query) == []


@pytest.mark.parametrize(
    ("resource_type", "query", "expected"),
    [
        ("Observation", "nosuch=1", ("nosuch", "search.unknown-param")),
        ("Observation", "_count=51", ("_count", "search.count-cap")),
        ("Observation", "date=2020-13-01", ("date", "search.value-syntax")),
        ("Observation", "date=gt", ("date", "search.value-syntax")),
        ("RiskAssessment", "probability=lots", ("probability", "search.value-syntax")),
        ("Observation", "value-quantity=x|y", ("value-quantity", "search.value-syntax")),
        ("Observation", "subject=Patient/../x", ("subject", "search.value-syntax")),
        ("Observation", "code:exact=x", ("code", "search.modifier")),
        ("Observation", "date:contains=2020", ("date", "search.modifier")),
        ("Observation", "subject:Medication=1", ("subject", "search.reference-type")),
        ("Observation", "status:missing=yes", ("status", "search.missing-value")),
        ("Observation", "code.text=x", ("code", "search.chain")),
        ("Observation", "subject:Patient.nosuch=x", ("subject", "search.chain")),
        ("Patient", "_has:Observation:code:code=1", ("_has", "search.has")),
        ("Patient", "name=", ("name", "search.empty-value")),
        ("Patient", "name=" + "a" * 1025, ("name", "search.value-length")),
        ("Observation", "_include=Observation:performer", ("_include", "search.include-not-allowed")),
        ("Observation", "_include:iterate=Observation:subject", ("_include", "search.include-iterate")),
        ("Observation", "_revinclude=Provenance:target", ("_revinclude", "search.include-not-allowed")),
        ("Observation", "_include=*", ("_include", "search.include-not-allowed")),
    ],
)
def test_refused_searches(resource_type: str, query: str, expected: tuple[str, str]) -> None:
    assert expected in check(resource_type, query)


def test_lenient_mode_reports_unknown_parameters_without_blocking() -> None:
    parsed = parse_query("nosuch=1")
    issues = check_search("Observation", parsed.params, policy=SearchPolicy(strict=False))
    assert [(i.rule, i.blocking) for i in issues] == [("search.unknown-param", False)]


def test_include_must_name_a_reference_parameter_even_when_allowed() -> None:
    policy = SearchPolicy(includes=frozenset({"*"}))
    assert check("Observation", "_include=Observation:code", policy) == [("_include", "search.include-param")]


@pytest.mark.parametrize(
    ("prefer", "default", "expected"),
    [
        (None, True, True),
        ("handling=lenient", True, False),
        ("return=minimal, handling=strict", False, True),
        ("handling=other", False, False),
    ],
)
def test_prefer_handling(prefer: str | None, default: bool, expected: bool) -> None:
    assert strict_from_prefer(prefer, default) is expected
