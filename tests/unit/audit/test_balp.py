"""Exported AuditEvents validate against the FHIR R4 model, following the BALP patterns."""

from __future__ import annotations

import time

from phigate.audit.balp import audit_events
from phigate.audit.chain import Chain
from phigate.audit.disclosures import SIX_YEARS_SECONDS, accounting, as_bundle, as_csv, as_html, summarised
from phigate.audit.events import AuditEvent, Kind
from phigate.guard.resource_validation import validate_resource

NOW = 1_780_000_000.0


def stored(*events: AuditEvent) -> list:  # type: ignore[type-arg]
    chain = Chain("node-1")
    return [chain.append(e.record()) for e in events]


SEARCH = AuditEvent(
    Kind.exchange, "search", NOW, request_id="r1", client_id="lab", vendor_id="acme", source_ip="10.0.0.5",
    method="GET", resource_type="Observation", patients=("p1", "p2", "p3"), status=200,
    rules={"token_id": "jti-1", "access": "scope"},
)  # fmt: skip
READ = AuditEvent(
    Kind.exchange, "read", NOW, request_id="r2", client_id="lab", vendor_id="acme", source_ip="10.0.0.5",
    resource_type="Patient", resource_ids=("p1",), patients=("p1",), status=200,
)  # fmt: skip
DENIED = AuditEvent(
    Kind.exchange, "search", NOW, request_id="r3", client_id="lab", resource_type="Claim", status=403,
    outcome="forbidden", reason="The token does not grant search of Claim.",
)  # fmt: skip
TOKEN = AuditEvent(
    Kind.security, "token.refused", NOW, source_ip="10.0.0.5", status=401, outcome="invalid_client"
)


def test_every_exported_event_validates() -> None:
    resources = [r for s in stored(SEARCH, READ, DENIED, TOKEN) for r in audit_events(s)]
    for resource in resources:
        assert validate_resource(resource, expected_type="AuditEvent") == [], resource
    assert len({r["id"] for r in resources}) == len(resources)


def test_a_search_yields_one_patient_query_event_per_patient() -> None:
    [search] = stored(SEARCH)
    events = audit_events(search)
    assert len(events) == 3
    patients = [
        [e["what"]["reference"] for e in ev["entity"] if e.get("role", {}).get("code") == "1"]
        for ev in events
    ]
    assert patients == [["Patient/p1"], ["Patient/p2"], ["Patient/p3"]]
    first = events[0]
    assert first["meta"]["profile"] == [
        "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery"
    ]
    assert first["action"] == "E" and first["subtype"][0]["code"] == "search-type"
    client = first["agent"][0]
    assert client["type"]["coding"][0]["code"] == "110153"  # Query: the client is the source
    assert client["network"] == {"address": "10.0.0.5", "type": "2"}
    assert {"value": "r1"} in [e["what"].get("identifier") for e in first["entity"] if "what" in e]


def test_a_denial_is_a_failed_event_with_its_reason() -> None:
    [denied] = audit_events(stored(DENIED)[0])
    assert denied["outcome"] == "4" and "does not grant" in denied["outcomeDesc"]


def test_the_accounting_lists_date_recipient_what_and_purpose_for_six_years() -> None:
    old = AuditEvent(**{**READ.record(), "kind": Kind.exchange, "recorded": NOW - SIX_YEARS_SECONDS - 86400,
                        "patients": ("p1",), "resource_ids": ("p1",), "purpose": ()})  # fmt: skip
    events = stored(old, SEARCH, READ, DENIED)
    entries = accounting("p1", events, NOW + 10, {"acme": "Acme Diagnostics"})
    assert len(entries) == 2  # the 7-year-old read and the denial are not in it
    for entry in entries:
        row = entry.row()
        assert (
            row["date"] and row["recipient"].startswith("Acme Diagnostics") and row["what"] and row["purpose"]
        )
    [summary] = summarised([entries[0]] * 100)
    assert summary.count == 100
    assert as_csv(entries).splitlines()[0] == "date,recipient,what,purpose,count,last_date"
    bundle = as_bundle("p1", entries, NOW)
    assert validate_resource(bundle) == []
    assert "Acme Diagnostics" in as_html(
        "Ada <Patient>", entries, time.time()
    ) and "&lt;Patient&gt;" in as_html("Ada <Patient>", entries, NOW)


def test_the_validator_would_catch_a_malformed_audit_event() -> None:
    [resource] = audit_events(stored(READ)[0])[:1]
    broken = {**resource, "agent": [{**resource["agent"][0], "network": {"address": "x", "kind": "2"}}]}
    assert validate_resource(broken, expected_type="AuditEvent") != []
    assert validate_resource({k: v for k, v in resource.items() if k != "agent"}) != []
