"""``phigate contract explain``: the narrowed upstream request, and against the live upstream what a client
would receive and what was removed or masked by which rule."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from fixtures.cli import phigate
from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.kms import generate_master_key
from phigate.adapters.sql import SqlSecretStore
from phigate.cli.client_registration import register_client
from phigate.cli.contracts import SEALED_PLACEHOLDER, explain_request
from phigate.cli.store import migrated_database
from phigate.cli.vendor_registry import register_vendor
from phigate.settings import load_settings
from phigate.shaping.masking import ENCRYPTED_ELEMENT_URL
from phigate.types import VendorId

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
CONTRACTS = {
    "clients": {
        "lab-client": {
            "resources": {
                "Observation": {"elements": ["status", "category", "code", "subject", "effective", "value"],
                                "search": {"category": LAB, "date": "ge{now-90d}"}},
            },
            "max_page_size": 25,
        },
        "sealing-client": {
            "resources": {"Patient": {}},
            "masking": {"rules": [{"path": "Patient.birthDate", "method": "encrypt"}]},
        },
    },
    "vendors": {"test-vendor": {"resources": {"Patient": {}}, "masking": {"preset": "safe-harbor"}}},
}  # fmt: skip


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, contracts=CONTRACTS) as running:
        yield running


async def explain(stack: Stack, client_id: str, line: str) -> dict[str, object]:
    services = stack.node.services
    store = SqlSecretStore(services.db, services.keyring)
    return await explain_request(stack.settings, client_id, "test-vendor", line, store, now=NOW)


async def test_explain_shows_the_narrowed_request_and_what_the_lab_would_receive(stack: Stack) -> None:
    result = await explain(stack, "lab-client", "GET /fhir/Observation?patient=pat-canary")
    assert result["contract"] == "contracts.clients.lab-client"
    upstream = str(result["upstream_request"])
    assert upstream.startswith(f"GET {stack.ehr}/fhir/Observation?patient=pat-canary&")
    assert "date=ge2025-10-03T00%3A00%3A00Z" in upstream or "date=ge2025-10-03T00:00:00Z" in upstream
    assert "_count=25" in upstream and "category=" in upstream
    received = result["received"]
    assert isinstance(received, dict) and received["resourceType"] == "Bundle" and received["entry"]
    removed = result["removed_or_masked"]
    assert isinstance(removed, dict)
    assert removed["elements_removed"]["contracts.clients.lab-client.resources.Observation.elements"] > 0


async def test_explain_shows_where_elements_would_be_sealed(stack: Stack) -> None:
    result = await explain(stack, "sealing-client", "GET /fhir/Patient/pat-canary")
    received = result["received"]
    assert isinstance(received, dict) and received["birthDate"] == SEALED_PLACEHOLDER
    assert {"url": ENCRYPTED_ELEMENT_URL, "valueString": "birthDate"} in received["meta"]["extension"]
    removed = result["removed_or_masked"]
    assert isinstance(removed, dict)
    assert removed["masked_by"] == {
        "contracts.clients.sealing-client.masking.rules.0 Patient.birthDate encrypt": 1
    }


async def test_explain_names_the_rule_that_refuses(stack: Stack) -> None:
    result = await explain(stack, "lab-client", "GET /fhir/Patient/pat-canary/$everything")
    assert "contracts.clients.lab-client.operations" in str(result["refused"])
    assert "upstream_request" not in result


async def test_explain_shows_masking_by_rule_and_the_same_pseudonyms_as_the_gateway(stack: Stack) -> None:
    result = await explain(stack, "research-client", "GET /fhir/Patient/pat-canary")
    assert result["contract"] == "contracts.vendors.test-vendor"
    received = result["received"]
    assert isinstance(received, dict) and received["birthDate"] == "1980" and "name" not in received
    removed = result["removed_or_masked"]
    assert isinstance(removed, dict)
    assert removed["redacted_by"]["safe-harbor.9 nodesByType('HumanName') redact"] == 3  # use, family, given
    keys = stack.node.contracts.keys.for_vendor("test-vendor") if stack.node.contracts else None
    assert keys is not None and received["id"] == keys.pseudonym("pat-canary")


def test_the_command_line_offline(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text(generate_master_key() + "\n")
    config = tmp_path / "phigate.yaml"
    config.write_text(yaml.safe_dump({
        "environment": "dev",
        "upstreams": {"ehr": {"targets": [{"url": "https://ehr.internal/fhir"}]}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "storage": {"url": "sqlite+aiosqlite:///phigate.db"},
        "master_key": {"file": "master.key"},
        "contracts": CONTRACTS,
    }))  # fmt: skip

    async def seed() -> None:
        async with migrated_database(load_settings(config)) as db:
            await register_vendor(db, "Test Vendor", "test-vendor")
            settings = load_settings(config).settings
            await register_client(db, settings, VendorId("test-vendor"), "Lab", "system/*.rs", "ES384",
                                  tmp_path / "lab.json", client_id="lab-client")  # fmt: skip

    asyncio.run(seed())
    args = ["contract", "explain", "--client", "lab-client", "--config", str(config), "--offline", "--json"]
    result = phigate(*args, "GET /fhir/Observation?code=1234-5")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    upstream = payload["upstream_request"]
    assert upstream.startswith("GET https://ehr.internal/fhir/Observation?code=1234-5&")
    assert "&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory" in upstream
    assert sorted(payload["narrowed"]) == ["_count", "category", "date"]
    refused = phigate(*args, "GET /fhir/Observation?_revinclude=*")
    assert refused.exit_code == 2 and "contracts.clients.lab-client.forbidden_parameters" in refused.stdout
    unknown = phigate("contract", "explain", "--client", "nobody", "--config", config, "GET /fhir/Patient")
    assert unknown.exit_code == 1 and "nobody" in unknown.output and "Traceback" not in unknown.output
