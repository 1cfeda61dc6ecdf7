from __future__ import annotations

from typing import Any

import pytest

from phigate.errors import ConfigError
from phigate.pipeline.contracts import ContractEnforcement
from phigate.settings import parse_settings
from phigate.settings.contracts import ContractsSettings

BASE: dict[str, Any] = {
    "environment": "dev",
    "upstreams": {"ehr": {"targets": [{"url": "https://ehr.example/fhir"}]}},
    "routes": [{"base": "/fhir", "upstream": "ehr"}],
    "master_key": {"env": "K"},
}


def problems_of_settings(contracts: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings({**BASE, "contracts": contracts})
    return caught.value.problems


def problems_of_compile(contracts: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        ContractEnforcement.from_settings(ContractsSettings.model_validate(contracts))
    return caught.value.problems


def test_a_valid_contracts_section_loads() -> None:
    settings = parse_settings({**BASE, "contracts": {"clients": {"lab": {"resources": {"Observation": {}}}}}})
    assert ContractEnforcement.from_settings(settings.contracts).book.for_client("lab", "any") is not None


@pytest.mark.parametrize(
    ("contracts", "expected"),
    [
        ({"clients": {"lab": {"resources": {}}}}, "contracts.clients.lab.resources:"),
        ({"clients": {"lab": {"resources": {"observation": {}}}}}, "contracts.clients.lab.resources:"),
        ({"clients": {"lab": {"resources": {"Patient": {"interactions": ["reed"]}}}}},
         "contracts.clients.lab.resources.Patient.interactions.0:"),
        ({"clients": {"lab": {"resources": {"Patient": {"search": {"date": "ge{today}"}}}}}},
         "contracts.clients.lab.resources.Patient.search:"),
        ({"clients": {"lab": {"resources": {"Patient": {}}, "operations": ["$everything"]}}},
         "contracts.clients.lab.operations:"),
        ({"clients": {"lab": {"resources": {"Patient": {}}, "masking": {"rules": [{"path": "Patient.name",
                                                                                 "method": "perturb"}]}}}},
         "contracts.clients.lab.masking.rules.0:"),
        ({"vendors": {"v": {"resources": {"Patient": {}}, "encryption": {"responses": "pgp"}}}},
         "contracts.vendors.v.encryption.responses:"),
        ({"clients": {"lab": {"resources": {"Patient": {}}, "colour": "red"}}},
         "contracts.clients.lab.colour:"),
    ],
)  # fmt: skip
def test_schema_problems_name_the_key_path(contracts: dict[str, Any], expected: str) -> None:
    problems = problems_of_settings(contracts)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_meaning_problems_name_the_key_path_all_at_once() -> None:
    problems = problems_of_compile({
        "clients": {"lab": {
            "resources": {
                "Observaton": {},
                "Observation": {"search": {"value-quantity": "gt5", "date": "soon", "code": "ge{now-1d}"}},
            },
            "masking": {"rules": [{"path": "nodesByType('Money')", "method": "redact"}]},
            "encryption": {"responses": "jwe", "keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        }},
    })  # fmt: skip
    expected = [
        "contracts.clients.lab.resources.Observaton: 'Observaton' is not a FHIR R4 resource type",
        "contracts.clients.lab.resources.Observation.search.value-quantity: the gateway cannot check",
        "contracts.clients.lab.resources.Observation.search.date: must be a date",
        "contracts.clients.lab.resources.Observation.search.code: a {now} template only fits a date",
        "contracts.clients.lab.masking.rules: nodesByType('Money') is not supported",
        "contracts.clients.lab.encryption.keys.0:",
    ]
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)


def test_a_client_contract_replaces_the_vendor_default() -> None:
    enforcement = ContractEnforcement.from_settings(ContractsSettings.model_validate({
        "clients": {"special": {"resources": {"Claim": {}}}},
        "vendors": {"acme": {"resources": {"Patient": {}}}},
    }))  # fmt: skip
    book = enforcement.book
    special, other, stranger = (
        book.for_client("special", "acme"),
        book.for_client("x", "acme"),
        book.for_client("y", "z"),
    )
    assert special is not None and set(special.types) == {"Claim"}
    assert other is not None and other.key == "contracts.vendors.acme"
    assert stranger is None
