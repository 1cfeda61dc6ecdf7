"""``phigate vendor reminders`` (for cron) and the audited ``phigate review`` steps, end to end on a real
config and SQLite store: what is due, sent once through the signed webhook, stored and audited; a failed
sending stays due; review start/decide/grant read back from the audit trail; A.7's 409 and grace."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures.cli import WebhookReceiver, as_json, audit_webhook, cli, ok, write_config
from fixtures.gateway_stack import free_port
from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.sql import SqlDataKeyStore, open_database
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.monitor.alerts import signature
from phigate.settings import load_settings
from phigate.types import ClientId, VendorId
from phigate.vendors.assessment import assess
from phigate.vendors.reviews import AccessReview, ReviewItem

SECRET = "cron-webhook-secret"
V = VendorId("acme-labs")


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def webhook(url: str) -> str:
    """The audit section sending alerts to ``url``, signed with SECRET."""
    return audit_webhook(url, "PHIGATE_TEST_WEBHOOK_SECRET")


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHIGATE_TEST_WEBHOOK_SECRET", SECRET)


def audited(config: Path, action_prefix: str) -> list[dict[str, Any]]:
    found = as_json(config, "audit", "search", "--vendor", V)
    return [e for e in found if str(e["action"]).startswith(action_prefix)]


def vendor_with_baa_ending_in(config: Path, days: int) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    until = (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
    ok(config, "vendor", "agreement", "add", V, "--kind", "baa", "--valid-from", "2025-01-01",
       "--valid-until", until, "--all-clauses")  # fmt: skip


def test_a_due_reminder_is_listed_then_sent_once_signed_stored_and_audited(
    tmp_path: Path, hook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, webhook(hook.url))
    vendor_with_baa_ending_in(config, 30)
    [due] = as_json(config, "vendor", "reminders")["due"]
    assert (due["kind"], due["state"], due["vendor_id"]) == ("expiry", "due", "acme-labs")
    assert due["text"].startswith("Vendor acme-labs: HIPAA business associate agreement expires")
    assert hook.received == []  # listing sends nothing

    sent = ok(config, "vendor", "reminders", "--send").stdout
    assert sent.startswith("sent now") and "(in 30 days)" in sent
    [(headers, body)] = hook.received
    assert hmac.compare_digest(
        headers["x-phigate-signature"], signature(SECRET.encode(), headers["x-phigate-timestamp"], body)
    )
    alert = json.loads(body)
    assert (alert["detector"], alert["vendor_id"], alert["severity"]) == ("vendor-expiry", "acme-labs", "low")

    again = as_json(config, "vendor", "reminders", "--send")  # cron runs again: no duplicate
    assert again["sent"] == [] and [d["state"] for d in again["due"]] == ["sent"] and len(hook.received) == 1
    assert [a["detector"] for a in as_json(config, "audit", "alerts")] == ["vendor-expiry"]
    [event] = audited(config, "vendor-expiry")
    assert event["kind"] == "alert" and "expires" in event["reason"]
    ok(config, "audit", "verify")
    page = tmp_path / "report.html"
    report = as_json(config, "vendor", "report", V, "--html", page)
    assert [(n["kind"], n["text"]) for n in report["notices"]] == [("expiry", due["text"])]
    assert "Reminders and alerts sent" in page.read_text() and report["traffic_days"] == 90


def test_a_reminder_the_webhook_did_not_take_stays_due(tmp_path: Path) -> None:
    config = write_config(tmp_path, webhook(f"http://127.0.0.1:{free_port()}/hook"))  # nobody listens there
    vendor_with_baa_ending_in(config, 7)
    failed = cli(config, "vendor", "reminders", "--send")
    assert failed.exit_code == 1
    assert failed.stderr.strip() == (
        "phigate: 1 notice(s) could not be sent; they stay due: the webhook alert sink failed "
        "(ClientConnectorError)"
    )
    assert [d["state"] for d in as_json(config, "vendor", "reminders")["due"]] == ["due"]
    assert as_json(config, "audit", "alerts") == []


def test_nothing_due_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    vendor_with_baa_ending_in(config, 200)
    assert ok(config, "vendor", "reminders", "--send").stdout.strip() == "nothing due"


async def _store(config: Path, *, review: AccessReview | None = None, review_due: date | None = None) -> None:
    resolved = load_settings(config)
    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        if review is not None:
            await SqlAccessReviews(db).add(review, "test")
        if review_due is not None:
            keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
            item = assess("as-old", V, {}, "ciso", datetime.now(UTC) - timedelta(days=400))
            await SqlVendorRisk(db, keyring).add_assessment(replace(item, review_due=review_due), "test")
    finally:
        await db.close()


def register_client(config: Path, tmp_path: Path, scopes: str) -> str:
    creds = tmp_path / "lab.json"
    ok(config, "client", "add", "--vendor", V, "--name", "lab", "--scopes", scopes, "--generate-key",
       "--credentials-out", creds)  # fmt: skip
    client_id: str = json.loads(creds.read_text())["client_id"]
    return client_id


def test_an_overdue_review_is_alerted_once_and_shown_in_the_list(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ok(config, "vendor", "add", "Acme Labs")
    client_id = register_client(config, tmp_path, "system/Patient.r")
    started = datetime.now(UTC) - timedelta(days=20)
    item = ReviewItem(client_id=ClientId(client_id), vendor_id=V, scope="system/Patient.r", uses=0,
                      by_type={}, last_used=None, flagged=True)  # fmt: skip
    late = AccessReview(id="rev-late", started_at=started, due_on=started.date() + timedelta(days=14),
                        unused_days=90, items=(item,))  # fmt: skip
    asyncio.run(_store(config, review=late))
    [listed] = as_json(config, "review", "list")
    assert listed["overdue"] and listed["alerted_at"] is None
    assert as_json(config, "vendor", "reminders", "--send")["sent"] == ["review-overdue:rev-late"]
    assert as_json(config, "vendor", "reminders", "--send")["sent"] == []
    [listed] = as_json(config, "review", "list")
    assert listed["alerted_at"] is not None
    assert "overdue, alerted " in ok(config, "review", "list").stdout
    report = as_json(config, "vendor", "report", V)
    assert report["last_review"]["overdue"] and report["last_review"]["alerted_at"] == listed["alerted_at"]
    assert f"access review rev-late overdue since {late.due_on.isoformat()} (alerted" in " ".join(
        report["alerts"]
    )
    [alert] = as_json(config, "audit", "alerts")
    assert (alert["detector"], alert["severity"]) == ("access-review-overdue", "medium")


def test_review_steps_are_audit_events_naming_who_what_and_which_review(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ok(config, "vendor", "add", "Acme Labs")
    client_id = register_client(config, tmp_path, "system/Observation.rs system/Patient.r")
    review = as_json(config, "review", "start")
    assert [(i["scope"], i["flagged"], i["uses"]) for i in review["items"]] == [
        ("system/Observation.rs", True, 0),
        ("system/Patient.r", True, 0),
    ]
    ok(config, "review", "decide", review["id"], "--client", client_id, "--scope", "system/Observation.rs",
       "--decision", "revoke", "--reviewer", "Privacy Officer")  # fmt: skip
    ok(config, "review", "decide", review["id"], "--client", client_id, "--scope", "system/Patient.r",
       "--decision", "keep", "--reviewer", "Privacy Officer")  # fmt: skip
    granted = as_json(config, "review", "grant", "--client", client_id, "--scope", "system/Claim.s",
                      "--reviewer", "Privacy Officer")  # fmt: skip
    assert granted["scopes"] == "system/Claim.s system/Patient.r"
    events = audited(config, "vendor.")
    assert [
        (e["action"], e["client_id"], e["rules"].get("scope"), e["rules"].get("review_id")) for e in events
    ] == [
        ("vendor.review.start", None, None, review["id"]),
        ("vendor.review.revoke", client_id, "system/Observation.rs", review["id"]),
        ("vendor.review.keep", client_id, "system/Patient.r", review["id"]),
        ("vendor.scope.grant", client_id, "system/Claim.s", None),
    ]
    assert events[0]["rules"]["actor"].startswith("cli:") and events[0]["rules"]["flagged"] == 2
    assert {e["rules"]["actor"] for e in events[1:]} == {"Privacy Officer"}
    assert events[1]["rules"]["decision"] == "revoke" and events[1]["kind"] == "security"
    ok(config, "audit", "verify")


def test_a_new_scope_for_a_vendor_overdue_for_review_is_refused_and_the_grace_is_audited(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    ok(config, "vendor", "add", "Acme Labs")
    client_id = register_client(config, tmp_path, "system/Patient.r")
    overdue_since = datetime.now(UTC).date() - timedelta(days=3)
    asyncio.run(_store(config, review_due=overdue_since))
    refused = cli(config, "review", "grant", "--client", client_id, "--scope", "system/Claim.s",
                  "--reviewer", "Privacy Officer")  # fmt: skip
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert f"overdue since {overdue_since.isoformat()}" in refused.stderr
    assert as_json(config, "client", "show", client_id)["scopes"] == "system/Patient.r"
    [event] = audited(config, "vendor.scope.grant")
    assert (event["outcome"], event["status"], event["rules"]["state"]) == ("conflict", 409, "grace")
    # a scope the client already holds is no new grant: nothing to refuse
    same = as_json(config, "review", "grant", "--client", client_id, "--scope", "system/Patient.r",
                   "--reviewer", "Privacy Officer")  # fmt: skip
    assert same["scopes"] == "system/Patient.r"


def test_review_start_needs_the_audit_trail(tmp_path: Path) -> None:
    config = write_config(tmp_path, "audit: {enabled: false}\n")
    result = cli(config, "review", "start")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "phigate: audit.enabled: access reviews read each client's use from the audit trail; enable it"
    )
