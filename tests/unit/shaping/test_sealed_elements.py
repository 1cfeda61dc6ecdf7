"""``method: encrypt``: single elements sealed in place as compact JWE, found by meta.extension (issue 7)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from jwcrypto import jwe, jwk

from phigate.oauth.jwe import import_encryption_key
from phigate.pipeline.shape_body import element_sealer
from phigate.settings.contracts import MaskRuleSettings
from phigate.shaping.masking import ENCRYPTED_ELEMENT_URL, SECURITY_SYSTEM, MaskProfile
from phigate.shaping.pseudonyms import PseudonymKeys
from phigate.shaping.tally import Tally

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="enc-1")
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
}
RULES = [
    {"path": "Patient.birthDate", "method": "encrypt"},
    {"path": "Patient.telecom", "method": "encrypt"},
    {"path": "Patient.name", "method": "redact"},
]


def profile() -> MaskProfile:
    return MaskProfile.build((f"r{i}", MaskRuleSettings.model_validate(rule)) for i, rule in enumerate(RULES))


def decrypt(token: str) -> Any:
    opened = jwe.JWE()
    opened.deserialize(token, key=KEY)
    assert opened.jose_header["kid"] == "enc-1" and opened.jose_header["cty"] == "application/json"
    return json.loads(opened.payload)


def at(resource: Any, location: str) -> Any:
    for step in location.split("."):
        resource = resource[int(step)] if isinstance(resource, list) else resource[step]
    return resource


def test_sealed_elements_are_jwe_strings_listed_in_meta_and_decrypt_to_the_original(
    keys: PseudonymKeys,
) -> None:
    public = {**json.loads(KEY.export_public()), "use": "enc"}
    seal = element_sealer(import_encryption_key(public))
    resource = copy.deepcopy(PATIENT)
    tally = Tally("contracts.clients.c1")
    profile().mask(resource, keys.for_vendor("v1"), NOW, tally, seal)
    text = json.dumps(resource)
    assert "1980-01-01" not in text and "555-0100" not in text and "Canary" not in text
    locations = [e["valueString"] for e in resource["meta"]["extension"] if e["url"] == ENCRYPTED_ELEMENT_URL]
    assert sorted(locations) == ["birthDate", "telecom.0"]
    assert decrypt(at(resource, "birthDate")) == "1980-01-01"
    assert decrypt(at(resource, "telecom.0")) == PATIENT["telecom"][0]  # a complex element, whole
    assert resource["identifier"] == PATIENT["identifier"]  # what no rule names leaves as it was
    codes = {label["code"] for label in resource["meta"]["security"] if label["system"] == SECURITY_SYSTEM}
    assert codes == {"MASKED", "REDACTED"}
    assert tally.as_fact()["masked_by"] == {"r0": 1, "r1": 1}


def test_without_a_key_sealed_elements_are_removed_never_sent_in_the_clear(keys: PseudonymKeys) -> None:
    resource = copy.deepcopy(PATIENT)
    profile().mask(resource, keys.for_vendor("v1"), NOW, Tally("c"), None)
    assert "birthDate" not in resource and "telecom" not in resource
    assert "555-0100" not in json.dumps(resource)
    assert "extension" not in resource["meta"]
