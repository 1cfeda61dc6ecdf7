"""``phigate vendor`` risk commands and ``phigate review`` end to end: a real config and SQLite store."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from fixtures.cli import as_json, cli, ok, refused, write_config
from phigate.cli.demo_vendors import seed_demo_posture
from phigate.settings import load_settings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def test_a_vendor_is_onboarded_gated_and_reported(config: Path, tmp_path: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    ok(
        config,
        "vendor",
        "profile",
        "acme-labs",
        "--legal-name",
        "Acme Labs Inc.",
        "--jurisdiction",
        "US",
        "--security-contact",
        "sec@acme.example",
    )
    unmanaged = as_json(config, "vendor", "show", "acme-labs")  # refused until assessed (the default)
    assert unmanaged["standing"] == "suspended"
    assert unmanaged["reasons"] == ["The vendor has not been assessed yet; access refused until it is"]

    report_file = tmp_path / "soc2.pdf"
    report_file.write_bytes(b"%PDF-1.7 SOC 2 report")
    soc2 = as_json(
        config,
        "vendor",
        "evidence",
        "add",
        "acme-labs",
        "--kind",
        "soc2_type2",
        "--issuer",
        "Auditor LLP",
        "--period-start",
        "2025-04-01",
        "--period-end",
        "2026-03-31",
        "--file",
        report_file,
    )
    assert soc2["sha256"] == hashlib.sha256(b"%PDF-1.7 SOC 2 report").hexdigest()
    assert soc2["standing"] == "conditional"  # managed now, and no BAA: no PHI

    refused(
        cli(
            config,
            "vendor",
            "agreement",
            "add",
            "acme-labs",
            "--kind",
            "baa",
            "--valid-from",
            "2026-01-01",
            "--valid-until",
            "2030-12-31",
            "--clause",
            "permitted_uses",
        ),
        "lacks mandatory clause(s)",
    )
    baa = as_json(
        config,
        "vendor",
        "agreement",
        "add",
        "acme-labs",
        "--kind",
        "baa",
        "--valid-from",
        "2026-01-01",
        "--valid-until",
        "2030-12-31",
        "--all-clauses",
        "--breach-notice-hours",
        "96",
    )
    assert baa["standing"] == "approved" and baa["breach_notice_flagged"]

    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "certification: one\nhipaa_compliance: 'yes'\ngdpr_compliance: not_applicable\ntls: '1.2'\n"
        "encryption_at_rest: aes-256\nmfa: 'no'\naccess_control: 'no'\nlogging: 'no'\n"
        "incident_response: 'no'\nbreach_notice: 'yes'\nsubprocessors: 'yes'\ndata_location: contracted\n",
        encoding="utf-8",
    )
    rating = as_json(config, "vendor", "assess", "acme-labs", "--answers", answers, "--assessor", "CISO")
    assert (rating["band"], rating["score"], len(rating["reasons"])) == ("high", 31, 5)

    ok(config, "vendor", "suspend", "acme-labs", "--reason", "unpaid audit")
    shown = as_json(config, "vendor", "show", "acme-labs")
    assert shown["standing"] == "suspended" and shown["status"] == "suspended"
    assert "unpaid audit" not in json.dumps(shown["reasons"])  # the admin's reason is not shown to the vendor
    reinstated = as_json(config, "vendor", "reinstate", "acme-labs")
    assert reinstated["standing"] == "approved"

    incident = as_json(
        config,
        "vendor",
        "incident",
        "record",
        "acme-labs",
        "--summary",
        "Credential leak",
        "--aware-at",
        "2026-11-01T09:00:00+00:00",
        "--jurisdiction",
        "EU",
        "--jurisdiction",
        "US",
    )
    assert {c["name"]: c["due_at"] for c in incident["clocks"]} == {
        "contract": "2026-11-05T09:00:00+00:00",
        "gdpr": "2026-11-04T09:00:00+00:00",
        "hipaa": "2026-12-31T09:00:00+00:00",
    }
    assert as_json(config, "vendor", "show", "acme-labs")["standing"] == "suspended"
    refused(
        cli(config, "vendor", "incident", "close", incident["id"], "--assessment", answers), "closing needs"
    )

    html = tmp_path / "report.html"
    report = as_json(config, "vendor", "report", "acme-labs", "--html", html)
    assert report["posture"]["standing"] == "suspended"
    assert [e["kind"] for e in report["evidence"]] == ["soc2_type2"]
    assert report["assessment"]["band"] == "high"
    assert any("96 h to notify" in alert for alert in report["alerts"])
    assert [e["action"] for e in report["trail"]] == [
        "profile.set",
        "evidence.add",
        "agreement.add",
        "assessment.add",
        "vendor.suspend",
        "vendor.reinstate",
        "incident.record",
    ]
    assert (report["denials"], report["disclosures"]) == ([], [])  # no traffic (test_vendor_report_gateway)
    page = html.read_text()
    assert "<h2>Standing: suspended</h2>" in page and "sec@acme.example" not in page
    assert "<h2>Denials</h2>" in page and "<h2>Disclosures of patient data</h2>" in page


def test_removing_the_baa_downgrades_and_unknown_vendors_are_refused(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    ok(
        config,
        "vendor",
        "evidence",
        "add",
        "acme-labs",
        "--kind",
        "iso27001",
        "--issuer",
        "BSI",
        "--number",
        "IS 1",
        "--expires-on",
        "2030-01-01",
    )
    baa = as_json(
        config,
        "vendor",
        "agreement",
        "add",
        "acme-labs",
        "--kind",
        "baa",
        "--valid-from",
        "2026-01-01",
        "--valid-until",
        "2030-12-31",
        "--all-clauses",
    )
    assert baa["standing"] == "approved"
    assert (
        "standing conditional" in ok(config, "vendor", "agreement", "remove", "acme-labs", baa["id"]).stdout
    )
    refused(
        cli(
            config,
            "vendor",
            "evidence",
            "add",
            "nobody",
            "--kind",
            "pentest",
            "--issuer",
            "X",
            "--performed-on",
            "2026-01-01",
        ),
        "No vendor 'nobody'",
    )
    refused(
        cli(config, "vendor", "evidence", "add", "acme-labs", "--kind", "soc2_type2", "--issuer", "X"),
        "period",
    )


def test_review_campaign_flags_never_used_scopes_and_revokes(config: Path, tmp_path: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    creds = tmp_path / "lab.json"
    ok(
        config,
        "client",
        "add",
        "--vendor",
        "acme-labs",
        "--name",
        "lab",
        "--scopes",
        "system/Observation.rs system/Patient.r",
        "--generate-key",
        "--credentials-out",
        creds,
    )
    client_id = json.loads(creds.read_text())["client_id"]
    review = as_json(config, "review", "start")
    assert [(i["scope"], i["flagged"]) for i in review["items"]] == [
        ("system/Observation.rs", True),
        ("system/Patient.r", True),
    ]
    decided = as_json(
        config,
        "review",
        "decide",
        review["id"],
        "--client",
        client_id,
        "--scope",
        "system/Observation.rs",
        "--decision",
        "revoke",
        "--reviewer",
        "Privacy Officer",
    )
    assert decided["pending"] == 1 and decided["open"]
    shown = as_json(config, "client", "show", client_id)
    assert shown["scopes"] == "system/Patient.r"
    closed = as_json(
        config,
        "review",
        "decide",
        review["id"],
        "--client",
        client_id,
        "--scope",
        "system/Patient.r",
        "--decision",
        "keep",
        "--reviewer",
        "Privacy Officer",
    )
    assert not closed["open"]
    assert [r["overdue"] for r in as_json(config, "review", "list")] == [False]


def test_the_demo_vendors_start_in_three_standings(config: Path) -> None:
    for vendor_id in ("acme-diagnostics", "medbill", "cohort-research"):
        ok(config, "vendor", "add", vendor_id.title(), "--id", vendor_id)
    asyncio.run(seed_demo_posture(load_settings(config)))
    asyncio.run(seed_demo_posture(load_settings(config)))  # once only: a restart adds nothing
    shown = {
        v: as_json(config, "vendor", "show", v) for v in ("acme-diagnostics", "medbill", "cohort-research")
    }
    assert {v: s["standing"] for v, s in shown.items()} == {
        "acme-diagnostics": "approved",
        "medbill": "expired",
        "cohort-research": "conditional",
    }
    assert shown["medbill"]["reasons"][0].startswith("SOC 2 report period ended")
    assert shown["cohort-research"]["reasons"][0].startswith("No HIPAA business associate agreement on file")
    assert len(as_json(config, "vendor", "evidence", "list", "acme-diagnostics")) == 1
