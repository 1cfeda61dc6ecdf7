from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from phigate.fhir.parser import parse_request
from phigate.fhir.query import parse_query
from phigate.shaping.contracts import Contract
from phigate.shaping.narrowing import narrow

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
TERMS = {
    "resources": {
        "Observation": {"search": {"category": LAB, "date": "ge{now-90d}"}},
        "Patient": {"interactions": ["read"]},
        "Encounter": {"interactions": ["read", "search", "history"]},
    },
    "max_page_size": 20,
    "purposes": ["TREAT", "HOPERAT"],
}


@pytest.fixture
def lab(make_contract: Callable[..., Contract]) -> Contract:
    return make_contract(TERMS, "lab")


def test_a_search_goes_upstream_with_the_constraints_and_a_capped_page(lab: Contract) -> None:
    request = parse_request("GET", "/Observation", "patient=pat-1&_count=500")
    narrowed = narrow(request, lab, NOW)
    assert narrowed.refusal is None
    query = parse_query(narrowed.request.to_query())
    assert [p.raw_values for p in query.named("category")] == [(LAB,)]
    assert [p.raw_values for p in query.named("date")] == [("ge2025-10-03T00:00:00Z",)]
    assert [p.raw_values for p in query.named("_count")] == [("20",)]
    assert [p.raw_values for p in query.named("patient")] == [("pat-1",)]
    assert narrowed.added == ("category", "date", "_count")
    assert narrowed.purpose == "TREAT"  # the first configured purpose, when the caller names none


def test_the_relative_window_moves_with_the_clock(lab: Contract) -> None:
    request = parse_request("GET", "/Observation", "")
    later = narrow(request, lab, NOW + 10 * 86400).request
    assert later.named("date")[0].raw_values == ("ge2025-10-13T00:00:00Z",)


def test_a_smaller_page_is_kept_and_a_missing_count_is_added(lab: Contract) -> None:
    small = narrow(parse_request("GET", "/Observation", "_count=5"), lab, NOW)
    assert small.request.named("_count")[0].raw_values == ("5",) and "_count" not in small.added
    none = narrow(parse_request("GET", "/Encounter", ""), lab, NOW)
    assert none.request.named("_count")[0].raw_values == ("20",)


def test_a_compartment_search_is_narrowed_too(lab: Contract) -> None:
    narrowed = narrow(parse_request("GET", "/Patient/pat-1/Observation", ""), lab, NOW)
    assert narrowed.refusal is None and narrowed.request.named("category")


def test_a_read_is_not_changed(lab: Contract) -> None:
    request = parse_request("GET", "/Patient/pat-1", "")
    assert narrow(request, lab, NOW).request == request


@pytest.mark.parametrize(
    ("method", "path", "query", "rule"),
    [
        ("GET", "/Patient/p/$everything", "", "contracts.clients.lab.operations"),
        ("GET", "/$export", "", "contracts.clients.lab.operations"),
        ("GET", "/Condition", "", "contracts.clients.lab.resources"),
        ("GET", "/Patient", "name=x", "contracts.clients.lab.resources.Patient.interactions"),
        ("DELETE", "/Patient/p", "", "contracts.clients.lab.resources.Patient.interactions"),
        ("GET", "/", "_type=Observation", "contracts.clients.lab.resources"),
        ("GET", "/Observation", "_revinclude=*", "contracts.clients.lab.forbidden_parameters"),
        ("GET", "/Observation", "_include=*", "contracts.clients.lab.forbidden_parameters"),
        (
            "GET",
            "/Observation",
            "_include:iterate=Observation:subject",
            "contracts.clients.lab.forbidden_parameters",
        ),
        ("GET", "/Observation/_history", "", "contracts.clients.lab.resources.Observation"),
        ("POST", "/", "", "contracts.clients.lab"),
    ],
)
def test_what_the_contract_forbids_is_refused_naming_the_rule(
    lab: Contract, method: str, path: str, query: str, rule: str
) -> None:
    narrowed = narrow(parse_request(method, path, query), lab, NOW)
    assert narrowed.refusal is not None and f"({rule}" in narrowed.refusal


def test_an_include_that_is_not_forbidden_passes(lab: Contract) -> None:
    narrowed = narrow(parse_request("GET", "/Observation", "_include=Observation:subject"), lab, NOW)
    assert narrowed.refusal is None


def test_forbidden_parameters_by_name_modifier_and_value(make_contract: Callable[..., Contract]) -> None:
    strict = make_contract(
        {"resources": {"Patient": {}}, "forbidden_parameters": ["name:contains", "_sort=-birthdate", "_has"]}
    )
    refused = ["name:contains=ann", "_sort=-birthdate", "_has:Observation:patient:code=x"]
    allowed = ["name=ann", "_sort=birthdate"]
    for query in refused:
        assert narrow(parse_request("GET", "/Patient", query), strict, NOW).refusal is not None, query
    for query in allowed:
        assert narrow(parse_request("GET", "/Patient", query), strict, NOW).refusal is None, query


def test_operations_the_contract_lists_are_allowed(make_contract: Callable[..., Contract]) -> None:
    bulk = make_contract({"resources": {"Patient": {}}, "operations": ["export"]})
    assert narrow(parse_request("GET", "/Patient/$export", ""), bulk, NOW).refusal is None
    assert narrow(parse_request("GET", "/Patient/p/$everything", ""), bulk, NOW).refusal is not None


def test_purpose_of_use(lab: Contract) -> None:
    request = parse_request("GET", "/Patient/p", "")
    assert narrow(request, lab, NOW, "HOPERAT").purpose == "HOPERAT"
    refused = narrow(request, lab, NOW, "HRESCH")
    assert refused.refusal is not None and "contracts.clients.lab.purposes" in refused.refusal


def test_history_is_allowed_only_where_no_constraint_would_be_lost(
    make_contract: Callable[..., Contract],
) -> None:
    terms = {"resources": {"Observation": {"interactions": ["history"], "search": {"category": LAB}},
                           "Encounter": {"interactions": ["history"]}}}  # fmt: skip
    contract = make_contract(terms)
    assert narrow(parse_request("GET", "/Encounter/_history", ""), contract, NOW).refusal is None
    refused = narrow(parse_request("GET", "/Observation/_history", ""), contract, NOW).refusal
    assert refused is not None and "contracts.clients.c1.resources.Observation.search" in refused
