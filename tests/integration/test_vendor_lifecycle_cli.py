"""``phigate vendor subprocessor add/list/approve/object`` and ``phigate vendor offboard`` (A.4, A.11).

From the command line too, a sub-processor change notifies the controller through the configured alert
webhook and the audit trail, and makes the vendor pending_review until it is decided; offboarding is
refused without the return-or-destroy attestation, and with it the vendor is terminated for good.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.cli import WebhookReceiver, as_json, audit_webhook, cli, ok, write_config
from phigate.monitor.alerts import signature

SECRET = "cli-hook-secret"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def config(tmp_path: Path, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHIGATE_TEST_CLI_HOOK", SECRET)
    return write_config(tmp_path, audit_webhook(hook.url, "PHIGATE_TEST_CLI_HOOK"))


def managed_vendor(config: Path, tmp_path: Path) -> None:
    year = datetime.now(UTC).year
    ok(config, "vendor", "add", "Acme Labs")
    ok(config, "vendor", "evidence", "add", "acme-labs", "--kind", "soc2_type2", "--issuer", "Auditor LLP",
       "--period-start", f"{year - 1}-01-01", "--period-end", f"{year - 1}-12-31")  # fmt: skip
    ok(config, "vendor", "agreement", "add", "acme-labs", "--kind", "baa", "--all-clauses",
       "--valid-from", f"{year - 1}-01-01", "--valid-until", f"{year + 2}-12-31")  # fmt: skip


def test_a_sub_processor_change_from_the_cli_notifies_and_waits_for_the_controller(
    config: Path, tmp_path: Path, hook: WebhookReceiver
) -> None:
    managed_vendor(config, tmp_path)
    assert as_json(config, "vendor", "show", "acme-labs")["standing"] == "approved"
    change = as_json(config, "vendor", "subprocessor", "add", "acme-labs", "--name", "CloudStore",
                     "--service", "object storage", "--data-category", "lab-results",
                     "--location", "US", "--location", "EU")  # fmt: skip
    assert (change["status"], change["standing"], change["notice_failed"]) == (
        "pending",
        "pending_review",
        [],
    )

    [(headers, body)] = hook.received  # the controller's notice, signed
    assert headers["x-phigate-signature"] == signature(SECRET.encode(), headers["x-phigate-timestamp"], body)
    notice = json.loads(body)
    assert (notice["detector"], notice["vendor_id"]) == ("vendor.subprocessor", "acme-labs")
    assert "CloudStore added" in notice["explanation"] and change["objection_until"] in notice["explanation"]

    shown = as_json(config, "vendor", "show", "acme-labs")
    assert shown["standing"] == "pending_review"
    window = f"objection window ends {change['objection_until']}"
    added = f"Sub-processor CloudStore added {change['proposed_at'][:10]}"
    assert shown["reasons"] == [f"{added}; pending approval ({window})"]
    assert [c["id"] for c in as_json(config, "vendor", "subprocessor", "list", "acme-labs")] == [change["id"]]
    refused = cli(config, "vendor", "subprocessor", "object", "acme-labs", change["id"], "--reason", " ")
    assert refused.exit_code == 1 and "reason" in refused.stderr
    approved = as_json(config, "vendor", "subprocessor", "approve", "acme-labs", change["id"])
    assert (approved["status"], approved["standing"]) == ("approved", "approved")
    twice = cli(config, "vendor", "subprocessor", "approve", "acme-labs", change["id"])
    assert twice.exit_code == 1 and "decided already" in twice.stderr

    page = tmp_path / "report.html"
    report = as_json(config, "vendor", "report", "acme-labs", "--html", page)
    assert [(s["name"], s["status"]) for s in report["vendor"]["subprocessors"]] == [
        ("CloudStore", "approved")
    ]
    html = page.read_text()
    assert "<h2>Sub-processors and their changes</h2>" in html and "<td>CloudStore</td>" in html
    assert "<td>US EU</td>" in html and "<h2>Offboarding</h2>" not in html
    actions = [e["action"] for e in as_json(config, "audit", "search", "--vendor", "acme-labs")]
    assert actions[-3:] == [
        "vendor.subprocessor",
        "vendor.subprocessor.propose",
        "vendor.subprocessor.approve",
    ]
    ok(config, "audit", "verify")


def test_offboarding_is_refused_without_the_attestation_and_final_with_it(
    config: Path, tmp_path: Path
) -> None:
    managed_vendor(config, tmp_path)
    new_client = (
        "client",
        "add",
        "--vendor",
        "acme-labs",
        "--scopes",
        "system/Observation.rs",
        "--generate-key",
    )
    ok(
        config,
        *new_client,
        "--name",
        "results feed",
        "--credentials-out",
        tmp_path / "feed.json",
        "--id",
        "feed",
    )
    refused = cli(config, "vendor", "offboard", "acme-labs", "--signed-by", "Jo Bloggs, CISO")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "phigate: attestation: a vendor is terminated only with a return-or-destroy attestation "
        "(a signed file)"
    ]
    assert as_json(config, "vendor", "show", "acme-labs")["standing"] == "approved"  # nothing changed

    signed = tmp_path / "destruction-certificate.pdf"
    signed.write_bytes(b"%PDF-1.7 Acme destroyed every copy of the data on 2026-11-27")
    ended = as_json(config, "vendor", "offboard", "acme-labs", "--attestation", signed, "--disposition",
                    "destroyed", "--signed-by", "Jo Bloggs, CISO", "--reason", "contract ended")  # fmt: skip
    assert ended["status"] == "terminated" and len(ended["agreements_terminated"]) == 1
    assert ended["file_sha256"] == hashlib.sha256(signed.read_bytes()).hexdigest()
    shown = as_json(config, "vendor", "show", "acme-labs")
    assert shown["standing"] == "terminated"
    assert shown["reasons"][0] == f"Vendor offboarded on {datetime.now(UTC).date().isoformat()}; access ended"
    again = cli(config, "vendor", "reinstate", "acme-labs")
    assert again.exit_code == 1 and "cannot become active" in again.stderr
    # No client is added to an offboarded vendor, or enabled again (A.11): its access ended for good.
    added = cli(config, *new_client, "--name", "second feed", "--credentials-out", tmp_path / "second.json")
    assert added.exit_code == 1 and "was offboarded: it gets no client again" in added.stderr
    assert not (tmp_path / "second.json").exists()
    enabled = cli(config, "client", "enable", "feed")
    assert enabled.exit_code == 1 and "was offboarded" in enabled.stderr
    page = tmp_path / "report.html"
    report = as_json(config, "vendor", "report", "acme-labs", "--html", page)
    assert report["vendor"]["offboarding"]["file_sha256"] == ended["file_sha256"]
    assert "<h2>Offboarding</h2>" in page.read_text() and ended["file_sha256"] in page.read_text()
    actions = [e["action"] for e in as_json(config, "audit", "search", "--vendor", "acme-labs")]
    assert actions[-1] == "vendor.vendor.offboard"
