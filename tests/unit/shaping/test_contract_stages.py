"""The two pipeline stages over a hand-built exchange: facts recorded, bodies read only when needed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from phigate.errors import Forbidden
from phigate.exchange import Exchange, Identity, Reply
from phigate.fhir.parser import parse_request
from phigate.pipeline.contracts import ContractEnforcement, NarrowByContract
from phigate.pipeline.shape_body import ShapeBody
from phigate.policy.grants import Grant
from phigate.policy.scopes import ScopeSet
from phigate.settings.contracts import ContractsSettings
from phigate.shaping.pseudonyms import PseudonymKeys
from phigate.types import ClientId, RequestId, VendorId

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
CONTRACTS = {
    "clients": {
        "lab": {"resources": {"Observation": {"search": {"category": LAB}}, "Encounter": {}}},
        "research": {"resources": {"Patient": {}}, "masking": {"preset": "safe-harbor"}},
    }
}


class RecordingBody:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.read_calls = 0

    async def iter_body(self) -> AsyncIterator[bytes]:
        yield self.payload

    async def read(self, max_bytes: int) -> bytes:
        self.read_calls += 1
        return self.payload

    async def close(self) -> None:
        return None


async def _no_body(limit: int) -> bytes:
    return b""


def exchange(client: str, method: str, path: str, query: str = "") -> Exchange:
    ex = Exchange(
        request_id=RequestId("req-1"), method=method, path="/fhir" + path, raw_path=("/fhir" + path).encode(),
        query=query, headers=[("host", "gw.example")], client_ip="127.0.0.1", scheme="https",
        started=time.monotonic(), read_body=_no_body, route_base="/fhir",
    )  # fmt: skip
    grant = Grant(ScopeSet.parse("system/*.rs"), ClientId(client))
    ex.identity = Identity(grant, VendorId("vendor-1"), "token-1", "https://issuer", 0)
    ex.fhir = parse_request(method, path, query)
    return ex


@pytest.fixture
def enforcement() -> ContractEnforcement:
    built = ContractEnforcement.from_settings(ContractsSettings.model_validate(CONTRACTS))
    built.keys = PseudonymKeys.from_root(bytes(range(32)))
    built.clock = lambda: NOW
    return built


async def test_the_request_stage_narrows_and_records_only_parameter_names(
    enforcement: ContractEnforcement,
) -> None:
    ex = exchange("lab", "GET", "/Observation", "patient=secret-patient-id")
    await NarrowByContract(enforcement)(ex)
    assert "category=" in ex.query and "patient=secret-patient-id" in ex.query and "_count=100" in ex.query
    assert ex.facts["contract"] == {"contract": "contracts.clients.lab", "narrowed": ["category", "_count"]}


async def test_the_request_stage_refuses_with_the_rule(enforcement: ContractEnforcement) -> None:
    ex = exchange("lab", "GET", "/Patient/p/$everything")
    with pytest.raises(Forbidden, match=r"contracts\.clients\.lab\.operations"):
        await NarrowByContract(enforcement)(ex)


async def test_clients_without_a_contract_pass_untouched(enforcement: ContractEnforcement) -> None:
    ex = exchange("someone-else", "GET", "/Condition", "patient=p")
    body = RecordingBody(b"{}")
    await NarrowByContract(enforcement)(ex)
    ex.reply = Reply(200, [("content-type", "application/fhir+json")], body)
    await ShapeBody(enforcement, ("https://ehr/fhir",))(ex)
    assert ex.query == "patient=p" and ex.reply.body is body and body.read_calls == 0 and not ex.facts


async def test_a_response_no_term_changes_is_streamed_not_read(enforcement: ContractEnforcement) -> None:
    ex = exchange("lab", "GET", "/Encounter/e1")
    body = RecordingBody(b'{"resourceType":"Encounter","id":"e1"}')
    ex.reply = Reply(200, [("content-type", "application/fhir+json")], body)
    await ShapeBody(enforcement, ("https://ehr/fhir",))(ex)
    assert ex.reply.body is body and body.read_calls == 0


async def test_a_shaped_response_is_counted_by_rule_without_values(enforcement: ContractEnforcement) -> None:
    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": "pat-secret", "name": [{"family": "Secretname", "given": ["Ann"]}],
        "identifier": [{"system": "mrn", "value": "MRN-SECRET"}], "birthDate": "1980-02-03",
    }  # fmt: skip
    ex = exchange("research", "GET", "/Patient/pat-secret")
    body = RecordingBody(orjson.dumps(patient))
    ex.reply = Reply(200, [("content-type", "application/fhir+json"), ("content-length", "999")], body)
    await ShapeBody(enforcement, ("https://ehr/fhir",))(ex)
    assert body.read_calls == 1 and isinstance(ex.reply.body, bytes)
    shaped = orjson.loads(ex.reply.body)
    assert "name" not in shaped and "identifier" not in shaped and shaped["birthDate"] == "1980"
    assert ("content-length", "999") not in ex.reply.headers
    fact = ex.facts["shaping"]
    assert fact["contract"] == "contracts.clients.research"
    assert fact["redacted_by"]["safe-harbor.7 nodesByType('Identifier') redact"] == 2
    assert fact["redacted_by"]["safe-harbor.9 nodesByType('HumanName') redact"] == 2
    assert fact["masked_by"]["safe-harbor.2 Resource.id cryptoHash"] == 1
    recorded = orjson.dumps(ex.facts).decode()
    for secret in ("pat-secret", "Secretname", "MRN-SECRET", "1980-02-03", "Ann"):
        assert secret not in recorded


async def test_an_error_reply_is_left_alone(enforcement: ContractEnforcement) -> None:
    ex = exchange("research", "GET", "/Patient/missing")
    body = RecordingBody(b'{"resourceType":"OperationOutcome"}')
    ex.reply = Reply(404, [], body)
    await ShapeBody(enforcement, ("https://ehr/fhir",))(ex)
    assert ex.reply.body is body and body.read_calls == 0
