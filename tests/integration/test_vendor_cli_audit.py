"""Vendor changes made from the command line enter the audit trail (issue 9 on the evidence plane).

The CLI has no node, so each change is chained, stored and sealed on a CLI chain of its own in the
same audit store; ``phigate audit search`` finds them and ``phigate audit verify`` checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.cli import as_json, cli, ok, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def audited(config: Path, vendor: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = as_json(config, "audit", "search", "--vendor", vendor)
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
    result = cli(config, "vendor", "suspend", "no-such-vendor", "--reason", "x")
    assert result.exit_code == 1
    assert audited(config, "no-such-vendor") == []
