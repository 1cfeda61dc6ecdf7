"""De-identification as a posture obligation: every resource of a reply, at any depth, through the HIPAA
safe-harbor preset, after whatever a contract did; searches on identifying details are named for refusal."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from phigate.fhir.parser import parse_request
from phigate.settings.contracts import MaskRuleSettings
from phigate.shaping.deidentify import PROFILES, SAFE_HARBOR, deidentify, identifying_parameters
from phigate.shaping.masking import MaskProfile
from phigate.shaping.pseudonyms import PseudonymKeys
from phigate.shaping.tally import Tally

NOW = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-canary",
    "identifier": [{"system": "https://hospital/mrn", "value": "M0000001"}],
    "name": [{"family": "Testpatient", "given": ["Canary"]}],
    "telecom": [{"system": "email", "value": "canary@example.org"}],
    "birthDate": "1980-04-17",
    "address": [{"line": ["1 Canary Lane"], "city": "Springfield", "state": "IL", "postalCode": "62701"}],
    "contained": [{"resourceType": "RelatedPerson", "id": "rp", "name": [{"family": "Testmother"}]}],
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-1",
    "subject": {"reference": "Patient/pat-canary", "display": "Canary Testpatient"},
    "effectiveDateTime": "2025-10-09T08:25:00-06:00",
    "note": [{"text": "Canary called from (217) 555-0100"}],
    "valueQuantity": {"value": 71.0, "unit": "/min"},
}
BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "history",
    "link": [{"relation": "self", "url": "https://ehr/fhir/Patient?name=Testpatient"}],
    "entry": [
        {"fullUrl": "https://ehr/fhir/Patient/pat-canary", "resource": PATIENT,
         "request": {"method": "PUT", "url": "Patient/pat-canary"}},
        {"fullUrl": "https://ehr/fhir/Observation/obs-1", "resource": OBSERVATION,
         "response": {"status": "201", "location": "Observation/obs-1/_history/1"}},
    ],
}  # fmt: skip
IDENTIFYING = ("Testpatient", "Canary", "Testmother", "M0000001", "canary@", "Canary Lane", "Springfield",
               "555-0100", "pat-canary", "1980-04-17", "2025-10-09")  # fmt: skip


def deidentified(document: dict[str, Any], keys: PseudonymKeys) -> tuple[dict[str, Any], Tally]:
    copied, tally = copy.deepcopy(document), Tally("posture.deidentified_only")
    deidentify(copied, PROFILES[SAFE_HARBOR], keys.for_vendor("cohort-research"), NOW, tally, gateway)
    return copied, tally


def gateway(url: str) -> str | None:
    return (
        "https://gw/fhir" + url.removeprefix("https://ehr/fhir") if url.startswith("https://ehr/") else None
    )


def test_every_resource_at_any_depth_leaves_without_the_safe_harbor_identifiers(keys: PseudonymKeys) -> None:
    bundle, tally = deidentified(BUNDLE, keys)
    text = json.dumps(bundle)
    assert not [word for word in IDENTIFYING if word in text]
    patient, observation = (entry["resource"] for entry in bundle["entry"])
    assert patient["birthDate"] == "1980" and observation["effectiveDateTime"] == "2025"
    assert patient["address"] == [{"state": "IL", "postalCode": "627"}]
    assert observation["valueQuantity"] == OBSERVATION["valueQuantity"]  # clinical values stay
    assert (
        observation["subject"]["reference"].startswith("Patient/") and "display" not in observation["subject"]
    )
    assert {label["code"] for label in patient["meta"]["security"]} == {"REDACTED", "PSEUDED", "MASKED"}
    assert "link" not in bundle and all("request" not in e and "location" not in e.get("response", {})
                                        for e in bundle["entry"])  # fmt: skip
    assert all(e["fullUrl"].startswith("https://gw/fhir/") for e in bundle["entry"])  # not the upstream
    assert tally.changed


def test_pseudonyms_are_stable_for_the_vendor_so_references_still_join(keys: PseudonymKeys) -> None:
    first, _ = deidentified(BUNDLE, keys)
    again, _ = deidentified(BUNDLE, keys)
    patient, observation = (entry["resource"] for entry in first["entry"])
    assert observation["subject"]["reference"] == f"Patient/{patient['id']}"
    assert first == again


def test_no_contract_rule_can_shield_an_identifier_from_it(keys: PseudonymKeys) -> None:
    keep_names = MaskProfile.build([("c.0", MaskRuleSettings(path="Patient.name", method="keep"))])
    patient = copy.deepcopy(PATIENT)
    keep_names.mask(patient, keys.for_vendor("cohort-research"), NOW, Tally("c"))  # the contract's pass
    assert patient["name"] == PATIENT["name"]
    result, _ = deidentified(patient, keys)  # then the posture's
    assert "name" not in result and "Testpatient" not in json.dumps(result)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("name=Testpatient", ["name"]),
        ("family=Test&birthdate=1980-04-17", ["birthdate", "family"]),
        ("identifier=https://hospital/mrn|M0000001", ["identifier"]),
        ("_content=canary", ["_content"]),
        ("code=8867-4&subject:Patient.name=Testpatient", ["name"]),
        ("_has:Observation:patient:code=8867-4", []),
        ("code=8867-4&date=ge2025-01-01&_count=10", []),
    ],
)
def test_searches_on_identifying_details_are_named(query: str, named: list[str]) -> None:
    resource = "Observation" if "code=" in query else "Patient"
    assert identifying_parameters(parse_request("GET", f"/{resource}", query)) == named
