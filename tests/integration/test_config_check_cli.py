"""`phigate config check`: every problem with its key path, schema and meaning alike; exit 1 on any."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from phigate.cli.main import app

BASE = {
    "environment": "dev",
    "listeners": {"public": {"port": 8443, "plain_http": True}, "admin": {"port": 9443, "plain_http": True}},
    "upstreams": {"ehr": {"targets": [{"url": "https://ehr.example/fhir"}]}},
    "routes": [{"base": "/fhir", "upstream": "ehr"}],
    "master_key": {"env": "PHIGATE_MASTER_KEY"},
}


def check(tmp_path: Path, **sections: object) -> tuple[int, dict[str, object]]:
    path = tmp_path / "phigate.yaml"
    path.write_text(yaml.safe_dump({**BASE, **sections}))
    result = CliRunner().invoke(
        app, ["config", "check", str(path), "--json"], env={"PHIGATE_MASTER_KEY": "x"}
    )
    return result.exit_code, json.loads(result.stdout)


def test_a_valid_file_passes(tmp_path: Path) -> None:
    assert check(tmp_path) == (0, {"valid": True, "problems": []})


def test_problems_from_every_section_are_named_by_key_path(tmp_path: Path) -> None:
    code, result = check(
        tmp_path,
        traffic={"clients": {"acme-lab": {"rate_limit": "1000/minit", "allow_ips": ["10.0.0.0/33"]}}},
        oauth={"access_token_seconds": 5},
    )
    problems = "\n".join(result["problems"])  # type: ignore[arg-type]
    assert code == 1 and result["valid"] is False
    assert "traffic.clients.acme-lab.rate_limit" in problems and "1000/minit" in problems
    assert "traffic.clients.acme-lab.allow_ips" in problems
    assert "oauth.access_token_seconds" in problems


def test_a_contract_that_means_nothing_is_a_problem(tmp_path: Path) -> None:
    contracts = {"clients": {"acme-lab": {"resources": {"Obsrvation": {"elements": ["status"]}}}}}
    code, result = check(tmp_path, contracts=contracts)
    assert code == 1
    assert result["problems"] == [
        "contracts.clients.acme-lab.resources.Obsrvation: 'Obsrvation' is not a FHIR R4 resource type"
    ]
