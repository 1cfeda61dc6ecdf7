"""Data contracts through a running gateway over the demo EHR's data (issue 7).

Every client here holds broad scopes (``system/*.rs``): what it may not see is
taken away by its data contract alone. The gateway's clock is fixed at the demo
data's reference date, so ``date=ge{now-90d}`` selects a known window.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwe as jwcrypto_jwe
from jwcrypto import jwk as jwcrypto_jwk

from fixtures.gateway_stack import Stack, running_stack
from phigate.cli.client_registration import register_client
from phigate.cli.token import client_assertion
from phigate.cli.vendor_registry import register_vendor
from phigate.demo.synthetic import generate
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
WINDOW_START = "2025-10-03T00:00:00+00:00"  # NOW - 90 days
LAB_ELEMENTS = {
    "status",
    "category",
    "code",
    "subject",
    "effectiveDateTime",
    "valueQuantity",
    "referenceRange",
}
RSA_KEY = jwcrypto_jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-enc-1")
EC_KEY = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-enc-1")


def public(key: jwcrypto_jwk.JWK) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(key.export_public())
    return {**document, "use": "enc"}


RESEARCH = {
    "resources": {
        "Patient": {"interactions": ["read", "search"]},
        "Observation": {"interactions": ["search"]},
        "Condition": {"interactions": ["search"]},
        "Coverage": {"interactions": ["search"]},
    },
    "purposes": ["HRESCH"],
    "masking": {"preset": "safe-harbor"},
}
CONTRACTS = {
    "clients": {
        "lab-client": {
            "resources": {
                "Observation": {
                    "interactions": ["read", "search"],
                    "elements": [
                        "status",
                        "category",
                        "code",
                        "subject",
                        "effective",
                        "value",
                        "referenceRange",
                    ],
                    "search": {"category": LAB, "date": "ge{now-90d}"},
                },
                "Patient": {"interactions": ["read"], "elements": ["gender", "birthDate"]},
            },
            "max_page_size": 50,
            "purposes": ["TREAT"],
        },
        "billing-client": {
            "resources": {
                "Claim": {"interactions": ["read", "search"]},
                "Coverage": {"interactions": ["read", "search"]},
                "Patient": {"interactions": ["read"], "elements": ["name", "identifier", "address"]},
            },
            "purposes": ["HPAYMT"],
        },
        "jwe-rsa": {
            "resources": {"Patient": {"interactions": ["read"]}},
            "encryption": {"responses": "jwe", "keys": [public(RSA_KEY)]},
        },
        "jwe-ec": {
            "resources": {"Patient": {"interactions": ["read"]}},
            "encryption": {"responses": "jwe", "keys": [public(EC_KEY)]},
        },
    },
    "vendors": {"test-vendor": RESEARCH, "other-research": RESEARCH},
}


@pytest.fixture(scope="module")
def canary() -> dict[str, Any]:
    """The seeded identifiers of pat-canary, read from the same synthetic data set the EHR serves."""
    resources = generate(patients=100)
    patient = next(r for r in resources if r["resourceType"] == "Patient" and r["id"] == "pat-canary")
    coverage = next(r for r in resources if r["resourceType"] == "Coverage" and "canary" in r["id"])
    labs = [
        r for r in resources
        if r["resourceType"] == "Observation" and r["subject"]["reference"] == "Patient/pat-canary"
        and r["category"][0]["coding"][0]["code"] == "laboratory"
        and datetime.fromisoformat(r["effectiveDateTime"]) >= datetime.fromisoformat(WINDOW_START)
    ]  # fmt: skip
    return {"patient": patient, "coverage": coverage, "labs_in_window": labs}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, contracts=CONTRACTS, validation={"includes": ["*"]}) as running:
        assert running.node.contracts is not None
        running.node.contracts.clock = lambda: NOW
        yield running


def http(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15)


async def token(stack: Stack, creds: dict[str, Any]) -> str:
    form = {
        "grant_type": "client_credentials",
        "scope": creds["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
    }
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=form)
    assert reply.status_code == 200, reply.text
    access: str = reply.json()["access_token"]
    return access


async def client_token(stack: Stack, client_id: str) -> str:
    return await token(stack, await stack.register(client_id, "system/*.rs"))


async def get(stack: Stack, access: str, path: str, **headers: str) -> httpx.Response:
    async with http(stack) as client:
        return await client.get(
            stack.public + "/fhir" + path, headers={"authorization": f"Bearer {access}", **headers}
        )


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


async def test_a_lab_gets_only_recent_lab_observations_with_the_allowed_elements(
    stack: Stack, canary: dict[str, Any]
) -> None:
    access = await client_token(stack, "lab-client")
    reply = await get(stack, access, "/Observation?patient=pat-canary")
    assert reply.status_code == 200, reply.text
    bundle = reply.json()
    found = resources(bundle)
    assert sorted(r["id"] for r in found) == sorted(r["id"] for r in canary["labs_in_window"])
    assert bundle["total"] == len(canary["labs_in_window"]) > 0
    for observation in found:
        assert observation["category"][0]["coding"][0]["code"] == "laboratory"
        assert datetime.fromisoformat(observation["effectiveDateTime"]) >= datetime.fromisoformat(
            WINDOW_START
        )
        assert set(observation) - {"resourceType", "id", "meta"} <= LAB_ELEMENTS
        assert (
            "performer" not in observation and "encounter" not in observation and "issued" not in observation
        )
        assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED",
                "display": "redacted"} in observation["meta"]["security"]  # fmt: skip
    # The narrowing went upstream: the self link the EHR built carries the contract's constraints.
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "category=" in self_link and "date=ge2025-10-03" in self_link and "_count=50" in self_link
    assert self_link.startswith(stack.public + "/fhir/Observation?")


async def test_a_lab_reading_a_vital_sign_by_id_is_refused_naming_the_rule(stack: Stack) -> None:
    access = await client_token(stack, "lab-client")
    vital = await get(stack, access, "/Observation/obs-canary-001")
    assert vital.status_code == 403
    assert "contracts.clients.lab-client.resources.Observation.search.category" in vital.text


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/Patient/pat-canary/$everything", "contracts.clients.lab-client.operations"),
        ("/$export", "contracts.clients.lab-client.operations"),
        (
            "/Observation?patient=pat-canary&_revinclude=*",
            "contracts.clients.lab-client.forbidden_parameters",
        ),
        (
            "/Observation?_include:iterate=Observation:subject",
            "contracts.clients.lab-client.forbidden_parameters",
        ),
        ("/Condition?patient=pat-canary", "contracts.clients.lab-client.resources"),
        ("/Patient?name=Testpatient", "contracts.clients.lab-client.resources.Patient.interactions"),
    ],
)
async def test_what_the_lab_contract_forbids_is_refused_with_403(stack: Stack, path: str, rule: str) -> None:
    access = await client_token(stack, "lab-client")
    reply = await get(stack, access, path)
    assert reply.status_code == 403, reply.text
    assert rule in reply.text
    assert reply.json()["resourceType"] == "OperationOutcome"


async def test_a_purpose_outside_the_contract_is_refused(stack: Stack) -> None:
    access = await client_token(stack, "lab-client")
    research = await get(stack, access, "/Observation?patient=pat-canary", **{"x-purpose-of-use": "HRESCH"})
    assert research.status_code == 403
    assert "contracts.clients.lab-client.purposes" in research.text
    treatment = await get(stack, access, "/Observation?patient=pat-canary", **{"x-purpose-of-use": "TREAT"})
    assert treatment.status_code == 200


async def test_billing_sees_coverage_and_claims_but_no_clinical_data(stack: Stack) -> None:
    access = await client_token(stack, "billing-client")
    claims = await get(stack, access, "/Claim?patient=pat-canary&_include=Claim:encounter")
    assert claims.status_code == 200, claims.text
    bundle = claims.json()
    kinds = {r["resourceType"] for r in resources(bundle)}
    assert kinds == {"Claim"}  # the included Encounters (clinical) were removed
    assert bundle["total"] == len(resources(bundle)) > 0
    coverage = await get(stack, access, "/Coverage?beneficiary=pat-canary")
    assert coverage.status_code == 200 and {r["resourceType"] for r in resources(coverage.json())} == {
        "Coverage"
    }
    for clinical in ("/Condition?patient=pat-canary", "/Observation?patient=pat-canary",
                     "/DiagnosticReport?patient=pat-canary", "/Encounter?patient=pat-canary"):  # fmt: skip
        refused = await get(stack, access, clinical)
        assert refused.status_code == 403, clinical
        assert "contracts.clients.billing-client.resources" in refused.text


def seeded_identifiers(canary: dict[str, Any]) -> list[str]:
    patient, coverage = canary["patient"], canary["coverage"]
    values = [patient["id"], patient["birthDate"], coverage["subscriberId"]]
    values += [identifier["value"] for identifier in patient["identifier"]]
    values += [contact["value"] for contact in patient["telecom"]]
    for name in patient["name"]:
        values += [name["family"], *name["given"]]
    for address in patient["address"]:
        values += [*address["line"], address["city"], address["postalCode"]]
    return values


async def test_research_with_safe_harbor_receives_none_of_the_identifiers(
    stack: Stack, canary: dict[str, Any]
) -> None:
    access = await client_token(stack, "research-client")  # vendor test-vendor: the research default
    bodies = []
    for path in ("/Patient/pat-canary", "/Observation?patient=pat-canary&_include=Observation:subject",
                 "/Coverage?beneficiary=pat-canary", "/Condition?patient=pat-canary"):  # fmt: skip
        reply = await get(stack, access, path)
        assert reply.status_code == 200, (path, reply.text)
        bodies.append(reply.text)
    text = "\n".join(bodies).lower()
    values = seeded_identifiers(canary)
    assert len(values) >= 12
    leaked = [value for value in values if value.lower() in text]
    assert leaked == []
    # What research needs is still there: coded clinical data, the year of birth, the ZIP3.
    patient = json.loads(bodies[0])
    assert patient["birthDate"] == "1980" and patient["address"][0]["postalCode"] == "627"
    assert patient["gender"] == "female"
    observations = [r for r in resources(json.loads(bodies[1])) if r["resourceType"] == "Observation"]
    assert observations and all("valueQuantity" in o or "component" in o for o in observations)
    assert all(o["effectiveDateTime"].isdigit() and len(o["effectiveDateTime"]) == 4 for o in observations)


async def test_pseudonyms_are_stable_for_a_vendor_and_differ_between_vendors(stack: Stack) -> None:
    first = await client_token(stack, "research-client")
    second = await client_token(stack, "research-client-2")  # another client of the same vendor
    db = stack.node.services.db
    await register_vendor(db, "Other Research", "other-research")
    path = stack.directory / "other-study.json"
    vendor = VendorId("other-research")
    await register_client(db, stack.settings, vendor, "other-study", "system/*.rs", "ES384", path,
                          client_id="other-study")  # fmt: skip
    other = await token(stack, json.loads(path.read_text()))

    async def patient_id(access: str) -> str:
        reply = await get(stack, access, "/Patient/pat-canary")
        assert reply.status_code == 200, reply.text
        pseudonym: str = reply.json()["id"]
        return pseudonym

    ours = await patient_id(first)
    assert ours == await patient_id(first) == await patient_id(second)
    assert len(ours) == 64 and ours != "pat-canary"
    theirs = await patient_id(other)
    assert theirs != ours and len(theirs) == 64
    # References stay consistent with the hashed ids: an Observation points at the pseudonymous Patient.
    bundle = (await get(stack, first, "/Observation?patient=pat-canary&_count=5")).json()
    assert {r["subject"]["reference"] for r in resources(bundle)} == {f"Patient/{ours}"}


@pytest.mark.parametrize(("client_id", "key", "alg"), [("jwe-rsa", RSA_KEY, "RSA-OAEP-256"),
                                                       ("jwe-ec", EC_KEY, "ECDH-ES+A256KW")])  # fmt: skip
async def test_responses_leave_as_jwe_that_jwcrypto_decrypts(
    stack: Stack, client_id: str, key: jwcrypto_jwk.JWK, alg: str
) -> None:
    access = await client_token(stack, client_id)
    reply = await get(stack, access, "/Patient/pat-canary")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/jose"
    assert b"Canary" not in reply.content and reply.content.count(b".") == 4
    token = jwcrypto_jwe.JWE()
    token.deserialize(reply.text, key=key)
    assert token.jose_header["alg"] == alg and token.jose_header["enc"] == "A256GCM"
    assert token.jose_header["kid"] == key.get("kid")
    patient = json.loads(token.payload)
    assert patient["resourceType"] == "Patient" and patient["name"][0]["given"] == ["Canary"]
    shape = {"size": 2048} if alg.startswith("RSA") else {"crv": "P-256"}
    wrong = jwcrypto_jwk.JWK.generate(kty=key.get("kty"), **shape)
    with pytest.raises(jwcrypto_jwe.InvalidJWEData):
        jwcrypto_jwe.JWE().deserialize(reply.text, key=wrong)
