"""The demo EHR's synthetic data set: deterministic, complete, internally consistent FHIR R4."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from phigate.demo.synthetic import RESOURCE_TYPES, dump_ndjson, generate

ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"


@cache
def dataset() -> tuple[dict[str, Any], ...]:
    return tuple(generate())


def by_type(resource_type: str) -> list[dict[str, Any]]:
    return [r for r in dataset() if r["resourceType"] == resource_type]


def codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for item in node for r in references(item)]
    return []


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not() -> None:
    first = dump_ndjson(generate(seed=7, patients=30))
    assert first == dump_ndjson(generate(seed=7, patients=30))
    assert first != dump_ndjson(generate(seed=8, patients=30))


def test_generation_neither_uses_nor_disturbs_the_global_random_generator() -> None:
    random.seed(1)
    state = random.getstate()
    first = dump_ndjson(generate(patients=12))
    assert random.getstate() == state
    random.seed(99)
    assert dump_ndjson(generate(patients=12)) == first


def test_dates_follow_the_reference_date_not_the_clock() -> None:
    later = generate(patients=12, reference_date=date(2030, 1, 1))
    effective = [r["effectiveDateTime"] for r in later if r["resourceType"] == "Observation"]
    assert effective and all(value.startswith(("2027", "2028", "2029")) for value in effective)


def test_default_data_set_has_enough_patients_and_every_resource_type() -> None:
    counts = Counter(r["resourceType"] for r in dataset())
    assert counts["Patient"] == 120
    assert set(counts) == set(RESOURCE_TYPES)
    assert counts["Observation"] > 10 * counts["Patient"]
    assert all(counts[t] >= 5 for t in RESOURCE_TYPES)


def test_ids_are_valid_and_unique_and_every_resource_is_version_one() -> None:
    keys = [(r["resourceType"], r["id"]) for r in dataset()]
    assert len(keys) == len(set(keys))
    for resource in dataset():
        assert ID.fullmatch(resource["id"]), resource["id"]
        assert resource["meta"]["versionId"] == "1"
        assert INSTANT.fullmatch(resource["meta"]["lastUpdated"])


def test_every_reference_resolves_to_a_resource_of_the_data_set() -> None:
    known = {f"{r['resourceType']}/{r['id']}" for r in dataset()}
    all_references = [ref for resource in dataset() for ref in references(resource)]
    assert len(all_references) > 10_000
    assert set(all_references) <= known


def test_no_clinical_event_lies_after_the_reference_date() -> None:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    for resource in by_type("Observation") + by_type("Immunization"):
        moment = resource.get("effectiveDateTime") or resource["occurrenceDateTime"]
        assert datetime.fromisoformat(moment) < end


def test_patients_carry_names_address_telecom_and_mrn_and_member_identifiers() -> None:
    for patient in by_type("Patient"):
        assert patient["name"][0]["family"] and patient["name"][0]["given"]
        assert patient["gender"] in ("female", "male")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", patient["birthDate"])
        address = patient["address"][0]
        assert {"line", "city", "state", "postalCode", "country"} <= address.keys()
        assert patient["telecom"][0]["system"] == "phone"
        systems = {i["system"] for i in patient["identifier"]}
        assert "https://demo-hospital.example/mrn" in systems
    mrns = [i["value"] for p in by_type("Patient") for i in p["identifier"] if i["system"].endswith("/mrn")]
    assert len(mrns) == len(set(mrns)) == 120
    insured = [p for p in by_type("Patient")
               if any(i["type"]["coding"][0]["code"] == "MB" for i in p["identifier"])]  # fmt: skip
    assert len(insured) > 100


def test_special_patients_are_present_with_their_known_details() -> None:
    patients = {p["id"]: p for p in by_type("Patient")}
    canary = patients["pat-canary"]
    assert canary["name"][0] == {"use": "official", "family": "Testpatient", "given": ["Canary"]}
    assert patients["pat-unicode"]["name"][0]["family"] == "Núñez-O'Brien"
    assert "deceasedDateTime" in patients["pat-deceased"]
    assert patients["pat-minor"]["contact"][0]["relationship"][0]["coding"][0]["code"] == "MTH"
    referencing_empty = [r for r in dataset() if "Patient/pat-empty" in references(r)]
    assert referencing_empty == []
    assert any("Patient/pat-canary" in references(r) for r in by_type("Observation"))


def test_lab_observations_have_loinc_ucum_values_and_reference_ranges() -> None:
    labs = [o for o in by_type("Observation") if o["category"][0]["coding"][0]["code"] == "laboratory"]
    found = {code for o in labs for system, code in codes(o["code"]) if system == LOINC}
    assert {"2339-0", "718-7", "2160-0", "4548-4"} <= found
    for observation in labs:
        quantity = observation["valueQuantity"]
        assert quantity["system"] == UCUM and quantity["code"] == quantity["unit"]
        assert isinstance(quantity["value"], int | float)
        low, high = observation["referenceRange"][0]["low"], observation["referenceRange"][0]["high"]
        assert low["value"] < high["value"] and low["unit"] == quantity["unit"]
        flag = observation["interpretation"][0]["coding"][0]["code"]
        value = quantity["value"]
        assert flag == ("L" if value < low["value"] else "H" if value > high["value"] else "N")
        assert datetime.fromisoformat(observation["effectiveDateTime"]).tzinfo is not None


def test_vital_signs_include_heart_rate_weight_and_a_blood_pressure_panel() -> None:
    vitals = [o for o in by_type("Observation") if o["category"][0]["coding"][0]["code"] == "vital-signs"]
    found = {code for o in vitals for _, code in codes(o["code"])}
    assert {"8867-4", "85354-9", "29463-7"} <= found
    for panel in (o for o in vitals if (LOINC, "85354-9") in codes(o["code"])):
        assert "valueQuantity" not in panel
        parts = {code for c in panel["component"] for _, code in codes(c["code"])}
        assert parts == {"8480-6", "8462-4"}
        assert all(c["valueQuantity"]["unit"] == "mm[Hg]" for c in panel["component"])


def test_diagnostic_reports_group_lab_observations_of_the_same_patient() -> None:
    observations = {o["id"]: o for o in by_type("Observation")}
    for report in by_type("DiagnosticReport"):
        assert report["category"][0]["coding"][0]["code"] == "LAB"
        assert report["result"]
        for ref in report["result"]:
            result = observations[ref["reference"].removeprefix("Observation/")]
            assert result["subject"] == report["subject"]
            assert result["category"][0]["coding"][0]["code"] == "laboratory"


def test_clinical_resources_use_snomed_rxnorm_and_cvx() -> None:
    assert all(codes(c["code"]) <= {("http://snomed.info/sct", c["code"]["coding"][0]["code"])}
               for c in by_type("Condition"))  # fmt: skip
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    cvx = "http://hl7.org/fhir/sid/cvx"
    requests = by_type("MedicationRequest")
    assert all(m["medicationCodeableConcept"]["coding"][0]["system"] == rxnorm for m in requests)
    assert all(i["vaccineCode"]["coding"][0]["system"] == cvx for i in by_type("Immunization"))


def test_claims_reference_the_patients_coverage_and_add_up() -> None:
    coverages = {c["id"]: c for c in by_type("Coverage")}
    patients = {p["id"]: p for p in by_type("Patient")}
    for claim in by_type("Claim"):
        coverage = coverages[claim["insurance"][0]["coverage"]["reference"].removeprefix("Coverage/")]
        assert coverage["beneficiary"] == claim["patient"]
        assert claim["total"]["value"] == round(sum(item["net"]["value"] for item in claim["item"]), 2)
        assert claim["provider"]["reference"].startswith(("Practitioner/", "Organization/"))
        assert [item["sequence"] for item in claim["item"]] == list(range(1, len(claim["item"]) + 1))
    for coverage in coverages.values():
        patient = patients[coverage["beneficiary"]["reference"].removeprefix("Patient/")]
        members = {i["value"] for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "MB"}
        assert coverage["subscriberId"] in members
        assert coverage["payor"][0]["reference"].startswith("Organization/org-payor-")
