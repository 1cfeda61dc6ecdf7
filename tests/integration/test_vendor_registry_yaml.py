"""``phigate vendor export`` / ``import``: the registry round-trips through YAML into a fresh store."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.cli import cli, ok, write_config

ANSWERS = (
    "certification: one\nhipaa_compliance: 'yes'\ngdpr_compliance: not_applicable\ntls: '1.2'\n"
    "encryption_at_rest: aes-256\nmfa: 'no'\naccess_control: 'no'\nlogging: 'no'\n"
    "incident_response: 'no'\nbreach_notice: 'yes'\nsubprocessors: 'yes'\ndata_location: contracted\n"
)


def store(directory: Path) -> Path:
    directory.mkdir()
    return write_config(directory)


@pytest.fixture
def first(tmp_path: Path) -> Path:
    return store(tmp_path / "first")


@pytest.fixture
def second(tmp_path: Path) -> Path:
    return store(tmp_path / "second")


def shown(config: Path, vendor: str) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(ok(config, "vendor", "show", vendor, "--json").stdout)
    return {k: view[k] for k in ("standing", "reasons", "warnings", "restrictions")}


def populate(config: Path, tmp_path: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    ok(config, "vendor", "profile", "acme-labs", "--legal-name", "Acme Labs Inc.", "--jurisdiction", "US",
       "--jurisdiction", "EU", "--security-contact", "sec@acme.example")  # fmt: skip
    report = tmp_path / "soc2.pdf"
    report.write_bytes(b"%PDF-1.7 SOC 2 report")
    ok(config, "vendor", "evidence", "add", "acme-labs", "--kind", "soc2_type2", "--issuer", "Auditor LLP",
       "--period-start", "2025-04-01", "--period-end", "2026-03-31", "--file", report)  # fmt: skip
    ok(config, "vendor", "agreement", "add", "acme-labs", "--kind", "baa", "--valid-from", "2026-01-01",
       "--valid-until", "2030-12-31", "--all-clauses", "--breach-notice-hours", "24")  # fmt: skip
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS, encoding="utf-8")
    ok(config, "vendor", "assess", "acme-labs", "--answers", answers, "--assessor", "CISO")
    ok(config, "vendor", "add", "Beta Pay")
    ok(config, "vendor", "suspend", "beta-pay", "--reason", "contract lapsed")
    # sub-processors: one approved, one change pending (A.4); a vendor offboarded (A.11)
    store = ["subprocessor", "add", "acme-labs", "--name", "CloudStore", "--service", "storage",
             "--data-category", "lab-results", "--location", "US", "--json"]  # fmt: skip
    listed = json.loads(ok(config, "vendor", *store).stdout)
    ok(config, "vendor", "subprocessor", "approve", "acme-labs", listed["id"])
    ok(config, "vendor", *store[:-1], "--location", "IN")  # new terms: a change, pending
    ok(config, "vendor", "add", "Gamma Lab")
    destroyed = tmp_path / "destroyed.pdf"
    destroyed.write_bytes(b"%PDF-1.7 every copy destroyed")
    ok(config, "vendor", "offboard", "gamma-lab", "--attestation", destroyed, "--signed-by", "Jo, CISO")


def test_the_registry_round_trips_through_yaml(first: Path, second: Path, tmp_path: Path) -> None:
    populate(first, tmp_path)
    exported = tmp_path / "vendors.yaml"
    ok(first, "vendor", "export", exported)
    assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600  # it holds contacts in clear
    document = yaml.safe_load(exported.read_text())
    acme = document["vendors"][0]
    assert acme["profile"]["contacts"] == {"security": "sec@acme.example"}
    assert acme["evidence"][0]["attachment"]["sha256"]

    assert [s["status"] for s in acme["subprocessors"]] == ["approved", "pending"]
    assert document["vendors"][2]["offboarding"]["file_sha256"]

    added = json.loads(ok(second, "vendor", "import", exported, "--json").stdout)
    assert added == {"vendors": 3, "evidence": 1, "agreements": 1, "assessments": 1, "subprocessors": 2,
                     "offboardings": 1}  # fmt: skip
    again = tmp_path / "again.yaml"
    ok(second, "vendor", "export", again)
    assert yaml.safe_load(again.read_text()) == document
    for vendor in ("acme-labs", "beta-pay", "gamma-lab"):
        assert shown(second, vendor) == shown(first, vendor)
    assert shown(second, "beta-pay")["standing"] == "suspended"
    assert shown(second, "acme-labs")["standing"] == "pending_review"  # the pending change travelled
    assert shown(second, "gamma-lab")["standing"] == "terminated"

    repeated = json.loads(ok(second, "vendor", "import", exported, "--json").stdout)
    assert repeated == {"vendors": 0, "evidence": 0, "agreements": 0, "assessments": 0, "subprocessors": 0,
                        "offboardings": 0}  # fmt: skip


def test_a_file_with_one_bad_record_writes_nothing(first: Path, second: Path, tmp_path: Path) -> None:
    populate(first, tmp_path)
    exported = tmp_path / "vendors.yaml"
    ok(first, "vendor", "export", exported)
    document = yaml.safe_load(exported.read_text())
    document["vendors"][1]["evidence"] = [{**document["vendors"][0]["evidence"][0], "kind": "horoscope"}]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document))
    result = cli(second, "vendor", "import", broken)
    assert result.exit_code == 1 and "vendors[1]" in result.stderr, result.output
    listed = json.loads(ok(second, "vendor", "list", "--json").stdout)
    assert listed == []
    not_yaml = tmp_path / "not.yaml"
    not_yaml.write_text("version: [")
    result = cli(second, "vendor", "import", not_yaml)
    assert result.exit_code == 1 and "not a readable YAML file" in result.stderr
