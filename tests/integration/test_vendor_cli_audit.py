"""Vendor changes made from the command line enter the audit trail (issue 9 on the evidence plane).

The CLI has no node, so each change is chained, stored and sealed on a CLI chain of its own in the
same audit store; ``phigate audit search`` finds them and ``phigate audit verify`` checks them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from phigate.adapters.kms import generate_master_key
from phigate.cli.audit import audit_app
from phigate.cli.vendors import vendor_app

CONFIG = """\
environment: dev
upstreams:
  ehr:
    targets: [{url: "http://127.0.0.1:8080/fhir"}]
routes: [{base: /fhir, upstream: ehr}]
storage: {url: "sqlite+aiosqlite:///phigate.db"}
master_key: {file: master.key}
"""

app = typer.Typer()
app.add_typer(vendor_app, name="vendor")
app.add_typer(audit_app, name="audit")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "master.key").write_text(generate_master_key() + "\n")
    path = tmp_path / "phigate.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def ok(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result


def audited(config: Path, vendor: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        ok(config, "audit", "search", "--vendor", vendor, "--json").stdout
    )
    return found


def test_cli_vendor_changes_are_audit_events_and_the_chain_verifies(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    ok(config, "vendor", "suspend", "acme-labs", "--reason", "questionnaire overdue")
    ok(config, "vendor", "incident", "record", "acme-labs", "--summary", "Phishing of a vendor admin")
    ok(config, "vendor", "reinstate", "acme-labs")
    events = audited(config, "acme-labs")
    assert [e["action"] for e in events] == [
        "vendor.vendor.suspend",
        "vendor.incident.record",
        "vendor.vendor.reinstate",
    ]
    assert all(e["kind"] == "security" and e["rules"]["actor"].startswith("cli:") for e in events)
    assert events[0]["reason"] == "questionnaire overdue"
    ok(config, "audit", "verify")


def test_a_refused_change_leaves_no_audit_event(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    result = CliRunner().invoke(
        app, ["vendor", "suspend", "no-such-vendor", "--reason", "x", "--config", str(config)]
    )
    assert result.exit_code == 1
    assert audited(config, "no-such-vendor") == []
