from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from phigate.settings.contracts import MaskRuleSettings
from phigate.shaping.masking import MaskProfile
from phigate.shaping.methods import REMOVED, crypto_hash, generalize, partial
from phigate.shaping.paths import ElementPath, PathError
from phigate.shaping.pseudonyms import PseudonymKeys
from phigate.shaping.tally import Tally

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-1",
    "identifier": [
        {"system": "https://hospital/mrn", "value": "M0000001"},
        {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-00-0001"},
    ],
    "name": [{"family": "Testpatient", "given": ["Canary"]}],
    "telecom": [{"system": "phone", "value": "(217) 555-0100"}],
    "birthDate": "1980-01-01",
    "address": [{"line": ["1 Canary Lane"], "city": "Springfield", "state": "IL", "postalCode": "62701"}],
    "managingOrganization": {"reference": "Organization/org-1", "display": "Demo Hospital"},
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-1",
    "subject": {"reference": "Patient/pat-1"},
    "effectiveDateTime": "2025-10-09T08:25:00-06:00",
    "valueQuantity": {"value": 71.0, "unit": "/min"},
}


def profile(*rules: dict[str, Any]) -> MaskProfile:
    return MaskProfile.build((f"r{i}", MaskRuleSettings.model_validate(rule)) for i, rule in enumerate(rules))


def masked(
    resource: dict[str, Any], prof: MaskProfile, keys: PseudonymKeys, vendor: str = "v1"
) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    prof.mask(copied, keys.for_vendor(vendor), NOW, Tally("c"))
    return copied


def test_paths_select_elements_choices_and_node_types() -> None:
    assert ElementPath.parse("Patient.name.given").select(PATIENT) == [("name", 0, "given", 0)]
    assert ElementPath.parse("Observation.value").select(OBSERVATION) == [("valueQuantity",)]
    assert ElementPath.parse("nodesByType('Identifier').value").select(PATIENT) == [
        ("identifier", 0, "value"), ("identifier", 1, "value")
    ]  # fmt: skip
    assert ElementPath.parse("nodesByType('Reference')").select(PATIENT) == [("managingOrganization",)]
    assert ElementPath.parse("Observation.id").select(PATIENT) == []
    assert ElementPath.parse("nodesByType('date')").select(OBSERVATION) == [("effectiveDateTime",)]


@pytest.mark.parametrize(
    "text", ["patient.name", "nodesByType('Money')", "Patient..name", "Patient.name[0]", ""]
)
def test_paths_outside_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(PathError):
        ElementPath.parse(text)


def test_the_first_rule_that_reaches_an_element_wins(keys: PseudonymKeys) -> None:
    prof = profile(
        {"path": "Patient.identifier.system", "method": "keep"},
        {"path": "nodesByType('Identifier')", "method": "redact"},
    )
    out = masked(PATIENT, prof, keys)
    assert out["identifier"] == [
        {"system": "https://hospital/mrn"},
        {"system": "http://hl7.org/fhir/sid/us-ssn"},
    ]


def test_redaction_prunes_what_it_empties_and_labels_the_resource(keys: PseudonymKeys) -> None:
    tally = Tally("c")
    copied = copy.deepcopy(PATIENT)
    profile({"path": "nodesByType('HumanName')", "method": "redact"}).mask(
        copied, keys.for_vendor("v"), NOW, tally
    )
    assert "name" not in copied
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED",
            "display": "redacted"} in copied["meta"]["security"]  # fmt: skip
    assert tally.as_fact()["redacted_by"] == {"r0": 2}  # family and one given name; no value recorded


def test_crypto_hash_keeps_references_resolvable(keys: PseudonymKeys) -> None:
    vendor = keys.for_vendor("v1")
    pseudonym = vendor.pseudonym("pat-1")
    assert crypto_hash("id", "pat-1", vendor) == pseudonym and len(pseudonym) == 64
    assert crypto_hash("reference", "Patient/pat-1", vendor) == f"Patient/{pseudonym}"
    assert crypto_hash("reference", "Patient/pat-1/_history/3", vendor) == f"Patient/{pseudonym}"
    assert (
        crypto_hash("fullUrl", "https://gw/fhir/Patient/pat-1", vendor)
        == f"https://gw/fhir/Patient/{pseudonym}"
    )
    assert crypto_hash("reference", "#contained-1", vendor) == vendor.pseudonym("#contained-1")
    assert crypto_hash("reference", "urn:uuid:1234", vendor).startswith("urn:uuid:")
    prof = profile({"path": "Resource.id", "method": "cryptoHash"},
                   {"path": "nodesByType('Reference').reference", "method": "cryptoHash"})  # fmt: skip
    patient, observation = masked(PATIENT, prof, keys), masked(OBSERVATION, prof, keys)
    assert observation["subject"]["reference"] == f"Patient/{patient['id']}"
    assert {"code": "PSEUDED"}.items() <= patient["meta"]["security"][0].items()


def test_pseudonyms_are_stable_per_vendor_and_differ_between_vendors(keys: PseudonymKeys) -> None:
    assert keys.for_vendor("a").pseudonym("pat-1") == keys.for_vendor("a").pseudonym("pat-1")
    assert keys.for_vendor("a").pseudonym("pat-1") != keys.for_vendor("b").pseudonym("pat-1")
    other_root = PseudonymKeys.from_root(bytes(32))
    assert other_root.for_vendor("a").pseudonym("pat-1") != keys.for_vendor("a").pseudonym("pat-1")


def test_date_shift_is_consistent_per_patient_and_vendor(keys: PseudonymKeys) -> None:
    prof = profile({"path": "nodesByType('date')", "method": "dateShift"})
    patient, observation = masked(PATIENT, prof, keys), masked(OBSERVATION, prof, keys)
    born, seen = (
        datetime.fromisoformat(patient["birthDate"]),
        datetime.fromisoformat(observation["effectiveDateTime"]),
    )
    offset = keys.for_vendor("v1").date_offset("Patient/pat-1")
    assert -50 <= offset <= 50
    assert (born - datetime(1980, 1, 1)).days == offset
    assert observation["effectiveDateTime"].endswith("T00:00:00-06:00")  # time redacted, zone kept
    assert (seen.date() - datetime(2025, 10, 9).date()).days == offset
    offsets = {keys.for_vendor(v).date_offset("Patient/pat-1") for v in ("v1", "v2", "v3", "v4", "v5")}
    assert len(offsets) > 1


def test_partial_mask_keeps_the_last_four() -> None:
    assert partial("999-00-0001", 4) == "*******0001"
    assert partial("123", 4) == "***"


@pytest.mark.parametrize(
    ("to", "key", "value", "expected"),
    [
        ("year", "birthDate", "1980-01-01", "1980"),
        ("year", "birthDate", "1930-06-01", REMOVED),  # an age over 89
        ("year", "effectiveDateTime", "1930-06-01T10:00:00Z", "1930"),
        ("postcode3", "postalCode", "62701", "627"),
        ("postcode3", "postalCode", "03601", "000"),  # a ZIP3 with 20,000 people or fewer
        ("age-band", "value", 47, 40),
        ("age-band", "value", 97, 90),
    ],
)
def test_generalize(to: str, key: str, value: Any, expected: Any) -> None:
    rule = MaskRuleSettings(path="Resource.x", method="generalize", to=to)  # type: ignore[arg-type]
    assert generalize(rule, key, value, NOW) == expected


def test_substitute_replaces_a_whole_element(keys: PseudonymKeys) -> None:
    prof = profile({"path": "Patient.name", "method": "substitute", "replace_with": {"text": "anonymous"}})
    assert masked(PATIENT, prof, keys)["name"] == [{"text": "anonymous"}]


def test_perturb_is_bounded_and_the_same_on_every_request(keys: PseudonymKeys) -> None:
    prof = profile({"path": "Observation.value.value", "method": "perturb", "span": 10, "round_to": 1})
    first, again = masked(OBSERVATION, prof, keys), masked(OBSERVATION, prof, keys)
    value = first["valueQuantity"]["value"]
    assert value == again["valueQuantity"]["value"]  # averaging repeated answers does not remove the noise
    assert 66.0 <= value <= 76.0
    proportional = profile({"path": "Observation.value.value", "method": "perturb", "span": 0.1,
                            "range_type": "proportional"})  # fmt: skip
    assert 67 <= masked(OBSERVATION, proportional, keys)["valueQuantity"]["value"] <= 75


def test_masking_does_not_reach_into_contained_resources(keys: PseudonymKeys) -> None:
    resource = {
        **OBSERVATION,
        "contained": [{"resourceType": "Patient", "id": "c1", "name": [{"family": "X"}]}],
    }
    out = masked(resource, profile({"path": "nodesByType('HumanName')", "method": "redact"}), keys)
    assert out["contained"][0]["name"] == [{"family": "X"}]  # masked when shaped as a resource of its own
