"""The accounting of disclosures (45 CFR 164.528): for one patient, who received which data, when, why.

Built from the audit trail: every exchange that succeeded and carried the
patient's data to a third party's client is a disclosure. The accounting covers
six years back from the request date (164.528(a)(1)); each entry has the four
fields 164.528(b)(2) asks for: date, recipient (the vendor, named from the vendor
registry when known), a brief description of what was disclosed, and the purpose.
Repeated disclosures to one recipient for one purpose and kind of data can be
summarised as first date, count and last date (164.528(b)(3)).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from phigate.audit.chain import ChainedEvent

SIX_YEARS_SECONDS = (6 * 365 + 2) * 86400
_DISCLOSURE_PROFILE = (
    "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source"
)
_LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
DEFAULT_PURPOSE = "as permitted by the recipient's agreement (purpose not stated in the request)"


@dataclass(frozen=True, slots=True)
class Disclosure:
    date: float
    recipient: str  # the vendor's name (or id), and the client that received it
    what: str
    purpose: str
    request_id: str
    count: int = 1
    last_date: float | None = None

    def row(self) -> dict[str, str]:
        return {
            "date": _day(self.date),
            "recipient": self.recipient,
            "what": self.what,
            "purpose": self.purpose,
            "count": str(self.count),
            "last_date": _day(self.last_date or self.date),
        }


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def accounting(
    patient: str, events: Iterable[ChainedEvent], now: float, vendor_names: Mapping[str, str] | None = None
) -> list[Disclosure]:
    """The patient's disclosures within six years of ``now``, oldest first."""
    names = vendor_names or {}
    found: list[Disclosure] = []
    for stored in events:
        event = stored.event
        if not _is_disclosure(event, patient) or event["recorded"] < now - SIX_YEARS_SECONDS:
            continue
        vendor = event.get("vendor_id") or "unknown vendor"
        recipient = f"{names.get(vendor, vendor)} (client {event.get('client_id')})"
        purpose = ", ".join(event.get("purpose") or []) or DEFAULT_PURPOSE
        found.append(
            Disclosure(event["recorded"], recipient, _what(event), purpose, event.get("request_id", ""))
        )
    return sorted(found, key=lambda d: d.date)


def summarised(disclosures: list[Disclosure]) -> list[Disclosure]:
    """Repeated disclosures to one recipient, for one purpose, of one kind: first date, count, last date."""
    groups: dict[tuple[str, str, str], list[Disclosure]] = {}
    for disclosure in disclosures:
        groups.setdefault((disclosure.recipient, disclosure.purpose, disclosure.what), []).append(disclosure)
    return sorted(
        (
            Disclosure(
                g[0].date, g[0].recipient, g[0].what, g[0].purpose, g[0].request_id, len(g), g[-1].date
            )
            for g in groups.values()
        ),
        key=lambda d: d.date,
    )


def _is_disclosure(event: dict[str, Any], patient: str) -> bool:
    return (
        event.get("kind") == "exchange"
        and event.get("outcome") == "ok"
        and 200 <= int(event.get("status") or 0) < 300
        and patient in (event.get("patients") or [])
        and bool(event.get("client_id"))
    )


def _what(event: dict[str, Any]) -> str:
    kind = event.get("resource_type") or "data"
    verb = {"read": "record", "vread": "record version"}.get(event.get("action", ""), "records")
    return f"{kind} {verb} ({event.get('action')})"


def as_csv(disclosures: list[Disclosure]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["date", "recipient", "what", "purpose", "count", "last_date"])
    writer.writeheader()
    for disclosure in disclosures:
        writer.writerow(disclosure.row())
    return out.getvalue()


def as_bundle(patient: str, disclosures: list[Disclosure], now: float) -> dict[str, Any]:
    """A FHIR R4 collection Bundle of one AuditEvent per disclosure (BALP PrivacyDisclosure pattern)."""
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": stamp,
        "entry": [{"resource": _disclosure_event(patient, d, i)} for i, d in enumerate(disclosures, 1)],
    }


def _disclosure_event(patient: str, d: Disclosure, index: int) -> dict[str, Any]:
    dcm = "http://dicom.nema.org/resources/ontology/DCM"
    instant = datetime.fromtimestamp(d.date, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "resourceType": "AuditEvent",
        "id": f"disclosure-{index}",
        "meta": {"profile": [_DISCLOSURE_PROFILE]},
        "type": {"system": dcm, "code": "110106", "display": "Export"},
        "subtype": [{"system": _LIFECYCLE, "code": "disclose"}],
        "action": "R",
        "recorded": instant,
        "outcome": "0",
        "purposeOfEvent": [{"text": d.purpose}],
        "agent": [
            {"type": {"coding": [{"system": dcm, "code": "110153", "display": "Source Role ID"}]},
             "who": {"display": "phigate"}, "requestor": False},
            {"type": {"coding": [{"system": dcm, "code": "110152", "display": "Destination Role ID"}]},
             "who": {"display": d.recipient}, "requestor": True},
        ],
        "source": {"observer": {"display": "phigate"}},
        "entity": [
            {"what": {"reference": f"Patient/{patient}"},
             "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
             "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}},
            {"type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
             "description": f"{d.what}; {d.count} time(s) until {_day(d.last_date or d.date)}"},
        ],
    }  # fmt: skip


def as_html(patient_name: str, disclosures: list[Disclosure], now: float) -> str:
    """A printable letter to the patient listing the accounting."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in d.row().values()) + "</tr>"
        for d in disclosures
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Accounting of disclosures</title>"
        "<style>body{font-family:serif;max-width:50em;margin:2em auto}"
        "td,th{border:1px solid #999;padding:4px}table{border-collapse:collapse}</style></head><body>"
        f"<p>{_day(now)}</p><p>Dear {html.escape(patient_name)},</p>"
        "<p>As you asked, under 45 CFR 164.528, here is the accounting of the disclosures of your health "
        "information made through our gateway to third parties during the six years before this letter.</p>"
        "<table><tr><th>Date</th><th>Recipient</th><th>What</th><th>Purpose</th><th>Times</th><th>Last</th></tr>"
        f"{rows}</table><p>Entries: {len(disclosures)}.</p></body></html>"
    )
