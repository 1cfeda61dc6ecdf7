from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from phigate.fhir.parser import parse_request
from phigate.shaping.contracts import Contract
from phigate.shaping.minimise import Bases, needs_body, shape_document
from phigate.shaping.pseudonyms import PseudonymKeys
from phigate.shaping.tally import Tally

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
BASES = Bases(("https://ehr.internal/fhir",), "https://gw.example/fhir")


def observation(ident: str, category: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": ident, "status": "final",
        "category": [{"coding": [{"system": LAB.split("|")[0], "code": category}]}],
        "code": {"text": "Hb"}, "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when,
        "performer": [{"reference": "Practitioner/x"}], "valueQuantity": {"value": 13.1}, **extra,
    }  # fmt: skip


def searchset(*resources: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    entries = [
        {"fullUrl": f"https://ehr.internal/fhir/{r['resourceType']}/{r['id']}", "resource": r,
         "search": {"mode": "include" if r["resourceType"] == "Patient" else "match"}}
        for r in resources
    ]  # fmt: skip
    return {
        "resourceType": "Bundle", "type": "searchset", "total": len(resources) if total is None else total,
        "link": [{"relation": "self", "url": "https://ehr.internal/fhir/Observation?patient=p1"},
                 {"relation": "next", "url": "https://elsewhere.example/fhir/Observation?page=2"}],
        "entry": entries,
    }  # fmt: skip


@pytest.fixture
def lab(make_contract: Callable[..., Contract]) -> Contract:
    return make_contract({
        "resources": {
            "Observation": {"elements": ["status", "category", "code", "subject", "effective", "value"],
                            "search": {"category": LAB, "date": "ge{now-90d}"}},
        },
    }, "lab")  # fmt: skip


def test_a_searchset_keeps_only_allowed_types_within_the_constraints(lab: Contract) -> None:
    bundle = searchset(
        observation("recent-lab", "laboratory", "2025-12-01"),
        observation("old-lab", "laboratory", "2023-12-18T10:00:00Z"),
        observation("vital", "vital-signs", "2025-12-01"),
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "X"}]},
        total=12,
    )
    tally = Tally(lab.key)
    assert shape_document(bundle, lab, None, NOW, BASES, tally) is None
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["recent-lab"]
    assert bundle["total"] == 10  # two matches removed; the included Patient never counted
    assert bundle["link"] == [{"relation": "self", "url": "https://gw.example/fhir/Observation?patient=p1"}]
    assert bundle["entry"][0]["fullUrl"] == "https://gw.example/fhir/Observation/recent-lab"
    kept = bundle["entry"][0]["resource"]
    assert "performer" not in kept and "valueQuantity" in kept and "effectiveDateTime" in kept
    assert kept["meta"]["security"][0]["code"] == "REDACTED"
    assert tally.as_fact() == {
        "contract": "contracts.clients.lab",
        "entries_removed": {"outside-search-constraints": 2, "type-not-allowed": 1},
        "elements_removed": {"contracts.clients.lab.resources.Observation.elements": 1},
    }


def test_a_single_resource_outside_the_contract_is_refused(lab: Contract) -> None:
    vital = observation("vital", "vital-signs", "2025-12-01")
    refusal = shape_document(vital, lab, None, NOW, BASES, Tally(lab.key))
    assert refusal is not None and "contracts.clients.lab.resources.Observation.search.category" in refusal
    patient = {"resourceType": "Patient", "id": "p1"}
    refusal = shape_document(patient, lab, None, NOW, BASES, Tally(lab.key))
    assert refusal is not None and "contracts.clients.lab.resources" in refusal


def test_a_period_and_an_unreadable_date_against_a_date_constraint(lab: Contract) -> None:
    in_period = observation("p", "laboratory", "x")
    del in_period["effectiveDateTime"]
    in_period["effectivePeriod"] = {"start": "2025-01-01", "end": "2025-11-01"}
    assert shape_document(in_period, lab, None, NOW, BASES, Tally("c")) is None
    unreadable = observation("u", "laboratory", "next tuesday")
    assert shape_document(unreadable, lab, None, NOW, BASES, Tally("c")) is not None  # deny by default


def test_nested_allowlists_and_contained_resources(make_contract: Callable[..., Contract]) -> None:
    billing = make_contract({"resources": {"Patient": {"elements": ["address.postalCode", "name"]}}})
    patient = {
        "resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01",
        "address": [{"line": ["1 Lane"], "postalCode": "62701"}, {"city": "Springfield"}],
        "contained": [{"resourceType": "Observation", "id": "o"}],
    }  # fmt: skip
    tally = Tally("c")
    assert shape_document(patient, billing, None, NOW, BASES, tally) is None
    assert patient["address"] == [{"postalCode": "62701"}]
    assert "birthDate" not in patient and "contained" not in patient
    assert tally.entries_removed == {"contained-not-allowed": 1}


def test_masking_runs_on_entries_and_on_the_bundle(make_contract: Callable[..., Contract]) -> None:
    research = make_contract({"resources": {"Observation": {}}, "masking": {"preset": "safe-harbor"}})
    keys = PseudonymKeys.from_root(bytes(range(32))).for_vendor("v1")
    bundle = searchset(observation("o1", "laboratory", "2025-12-01T09:00:00Z"))
    shape_document(bundle, research, keys, NOW, BASES, Tally("c"))
    assert "link" not in bundle  # links echo the query: Safe Harbor drops them
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == f"https://gw.example/fhir/Observation/{keys.pseudonym('o1')}"
    assert entry["resource"]["id"] == keys.pseudonym("o1")
    assert entry["resource"]["effectiveDateTime"] == "2025"
    assert entry["resource"]["subject"] == {"reference": f"Patient/{keys.pseudonym('p1')}"}


def test_only_responses_a_term_can_change_are_read(
    make_contract: Callable[..., Contract], lab: Contract
) -> None:
    plain = make_contract({"resources": {"Patient": {}, "Encounter": {}}})
    assert not needs_body(plain, parse_request("GET", "/Patient/p1", ""))
    assert not needs_body(plain, parse_request("GET", "/Encounter", "patient=p1"))
    assert needs_body(plain, parse_request("GET", "/Encounter", "_include=Encounter:subject"))
    assert needs_body(lab, parse_request("GET", "/Observation/o1", ""))
    masked = make_contract({"resources": {"Patient": {}}, "masking": {"preset": "limited-data-set"}})
    assert needs_body(masked, parse_request("GET", "/Patient/p1", ""))
