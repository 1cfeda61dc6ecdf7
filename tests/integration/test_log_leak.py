"""Logs never carry tokens, secrets or patient data (ASVS 16.2.5, 16.4.1).

A real stack runs with logging at debug level into a buffer; requests carry a
seeded patient's name and identifiers, bearer and DPoP tokens, a token in the
query, cookies and basic credentials, in headers, queries and bodies, on
success, denial and upstream-failure paths. Then every byte logged is searched.
"""

from __future__ import annotations

import io
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import structlog

from fixtures.gateway_stack import free_port, running_stack
from phigate.cli.token import client_assertion
from phigate.monitor.logs import configure_logging
from phigate.oauth.rfc7523 import ASSERTION_TYPE

PATIENT_FAMILY = "Testpatient"  # the demo's canary patient: Canary Testpatient
PATIENT_GIVEN = "Canary"
SSN = "078-05-1120"
MRN = "MRN-CANARY-7731"
JWT = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJsYWItY2xpZW50IiwiZXhwIjoxfQ.c2lnbmF0dXJlLXNlZWRlZC1mb3ItbGVhay10ZXN0"
OPAQUE_TOKEN = "opaque-token-5f2b9c1e7d3a"
COOKIE_SECRET = "session-cookie-secret-91ab"
BASIC = "bGFiOnMzY3JldC1wYXNzd29yZA=="  # lab:s3cret-password
SEEDED = [PATIENT_FAMILY, PATIENT_GIVEN, SSN, MRN, JWT, OPAQUE_TOKEN, COOKIE_SECRET, BASIC, "s3cret-password"]


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=buffer)
    yield buffer
    structlog.reset_defaults()
    import logging

    logging.getLogger().handlers[:] = []


async def test_no_token_secret_or_patient_data_reaches_the_logs(
    tmp_path: Path, log_buffer: io.StringIO
) -> None:
    broken = {
        "targets": [{"url": f"https://127.0.0.1:{free_port()}/fhir"}],
        "timeouts": {"connect": 1, "total": 2},
    }
    extra = {"routes": [{"base": "/fhir", "upstream": "ehr"}, {"base": "/broken", "upstream": "broken"}]}
    async with running_stack(tmp_path, **extra, upstreams_extra={"broken": broken}) as stack:
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=10) as http:
            name_query = f"name={PATIENT_FAMILY}&given={PATIENT_GIVEN}&identifier={MRN}"
            await http.get(
                f"{stack.public}/fhir/Patient?{name_query}", headers={"authorization": f"Bearer {JWT}"}
            )
            await http.get(f"{stack.public}/fhir/Patient?access_token={OPAQUE_TOKEN}&{name_query}")
            await http.get(
                f"{stack.public}/fhir/Patient/{MRN}", headers={"authorization": f"DPoP {JWT}", "dpop": JWT}
            )
            await http.get(f"{stack.public}/fhir/metadata", headers={"cookie": f"sid={COOKIE_SECRET}"})
            await http.get(f"{stack.public}/fhir/metadata", headers={"authorization": f"Basic {BASIC}"})
            body = {
                "resourceType": "Patient",
                "name": [{"family": PATIENT_FAMILY, "given": [PATIENT_GIVEN]}],
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN}],
            }
            await http.post(
                f"{stack.public}/fhir/Patient",
                content=orjson.dumps(body),
                headers={"content-type": "application/fhir+json", "authorization": f"Bearer {JWT}"},
            )
            await http.get(
                f"{stack.public}/fhir/{PATIENT_FAMILY}?name={PATIENT_GIVEN}"
            )  # an unknown type: 404
            await http.get(f"{stack.public}/fhir/Patient?name={PATIENT_GIVEN}\\x")  # a malformed query: 400
            failed = await http.get(
                f"{stack.public}/broken/metadata?name={PATIENT_GIVEN}",
                headers={"authorization": f"Bearer {JWT}"},
            )
            assert failed.status_code in (502, 503)

            # A real third party: its assertion, its token, and the patient data it reads.
            creds = await stack.register("leak-lab", "system/Patient.rs system/Observation.rs")
            assertion = client_assertion(creds)
            issued = await http.post(creds["token_endpoint"], data={
                "grant_type": "client_credentials", "scope": creds["scopes"],
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})  # fmt: skip
            token = issued.json()["access_token"]
            bearer = {"authorization": f"Bearer {token}"}
            patient = await http.get(f"{stack.public}/fhir/Patient/pat-canary", headers=bearer)
            found = await http.get(f"{stack.public}/fhir/Patient?family={PATIENT_FAMILY}", headers=bearer)
            refused = await http.get(f"{stack.public}/fhir/Claim?patient=pat-canary", headers=bearer)
            assert PATIENT_FAMILY in patient.text and found.status_code == 200 and refused.status_code == 403
            seeded = [*SEEDED, token, assertion, creds["private_jwk"]["d"]]

    logged = log_buffer.getvalue()
    events = [orjson.loads(line) for line in logged.splitlines() if line.startswith("{")]
    exchanges = [e for e in events if e.get("event") == "exchange"]
    # The logs are there and say what happened: the test would notice a silent logger.
    assert len(exchanges) == 12, [e.get("status") for e in exchanges]
    assert any(e.get("client_id") == "leak-lab" and e["status"] == 200 for e in exchanges)
    assert any(e.get("event") == "token_issued" for e in events)
    assert {e["status"] for e in exchanges} >= {200, 401, 404, 400}
    assert any(e.get("event") == "upstream.failed" for e in events)
    leaks = [secret for secret in seeded if secret in logged]
    assert leaks == [], f"seeded values found in the logs: {leaks}"
