"""Vendor risk records to and from the JSON ``details`` column; reading one back re-runs its checks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from phigate.adapters.sql.database import as_utc
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import Agreement, AgreementKind
from phigate.vendors.assessment import Assessment, RiskBand, RiskRating
from phigate.vendors.evidence import Attachment, Evidence, EvidenceKind
from phigate.vendors.incidents import Incident, IncidentStatus
from phigate.vendors.offboarding import Attestation, Disposition
from phigate.vendors.subprocessors import ChangeStatus, Subprocessor

_EVIDENCE_DATES = ("period_start", "period_end", "bridge_until", "expires_on", "performed_on")


def dumps(document: dict[str, Any]) -> str:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    assert isinstance(value, dict)
    return value


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _moment(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def evidence_document(item: Evidence) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": item.issuer, "exceptions": item.exceptions, "number": item.number,
        "open_findings": item.open_findings, "scope": item.scope, "notes": list(item.notes),
    }  # fmt: skip
    for name in _EVIDENCE_DATES:
        value = getattr(item, name)
        document[name] = value.isoformat() if value is not None else None
    if item.attachment is not None:
        document["attachment"] = {"name": item.attachment.name, "size": item.attachment.size}
    return document


def evidence_of(row_id: str, vendor_id: str, kind: str, details: str, recorded_at: datetime,
                sha256: str | None) -> Evidence:  # fmt: skip
    document = loads(details)
    attached = document.get("attachment")
    attachment = Attachment(attached["name"], sha256, attached["size"]) if attached and sha256 else None
    return Evidence(
        id=row_id, vendor_id=VendorId(vendor_id), kind=EvidenceKind(kind), recorded_at=as_utc(recorded_at),
        issuer=document["issuer"], exceptions=document["exceptions"], number=document["number"],
        open_findings=document["open_findings"], scope=document["scope"], notes=tuple(document["notes"]),
        attachment=attachment, **{name: _day(document[name]) for name in _EVIDENCE_DATES},
    )  # fmt: skip


def agreement_document(item: Agreement) -> dict[str, Any]:
    return {
        "valid_from": item.valid_from.isoformat(), "valid_until": item.valid_until.isoformat(),
        "clauses": sorted(item.clauses), "breach_notice_hours": item.breach_notice_hours,
        "purposes": list(item.purposes), "data_categories": list(item.data_categories),
        "security_clauses": list(item.security_clauses),
        "terminated_on": item.terminated_on.isoformat() if item.terminated_on else None,
        "termination_attestation": item.termination_attestation,
    }  # fmt: skip


def agreement_of(row_id: str, vendor_id: str, kind: str, details: str, recorded_at: datetime,
                 sha256: str | None) -> Agreement:  # fmt: skip
    document = loads(details)
    valid_from, valid_until = _day(document["valid_from"]), _day(document["valid_until"])
    assert valid_from is not None and valid_until is not None
    return Agreement(
        id=row_id, vendor_id=VendorId(vendor_id), kind=AgreementKind(kind), recorded_at=as_utc(recorded_at),
        valid_from=valid_from, valid_until=valid_until, clauses=frozenset(document["clauses"]),
        breach_notice_hours=document["breach_notice_hours"], purposes=tuple(document["purposes"]),
        data_categories=tuple(document["data_categories"]),
        security_clauses=tuple(document["security_clauses"]),
        file_sha256=sha256, terminated_on=_day(document["terminated_on"]),
        termination_attestation=document.get("termination_attestation"),
    )  # fmt: skip


def assessment_document(item: Assessment) -> dict[str, Any]:
    return {
        "answers": item.answers, "assessor": item.assessor, "score": item.rating.score,
        "reasons": list(item.rating.reasons), "review_due": item.review_due.isoformat(),
    }  # fmt: skip


def assessment_of(row_id: str, vendor_id: str, band: str, details: str, assessed_at: datetime) -> Assessment:
    document = loads(details)
    due = _day(document["review_due"])
    assert due is not None
    rating = RiskRating(document["score"], RiskBand(band), tuple(document["reasons"]))
    return Assessment(
        id=row_id, vendor_id=VendorId(vendor_id), answers=document["answers"],
        assessed_at=as_utc(assessed_at), assessor=document["assessor"], rating=rating, review_due=due,
    )  # fmt: skip


def incident_document(item: Incident) -> dict[str, Any]:
    return {
        "summary": item.summary, "aware_at": item.aware_at.isoformat(),
        "jurisdictions": sorted(item.jurisdictions), "source": item.source,
        "met": {name: at.isoformat() for name, at in item.met.items()}, "assessment": item.assessment,
        "closed_at": item.closed_at.isoformat() if item.closed_at else None,
        "restored_at": item.restored_at.isoformat() if item.restored_at else None,
    }  # fmt: skip


def incident_of(row_id: str, vendor_id: str, status: str, details: str, recorded_at: datetime) -> Incident:
    document = loads(details)
    return Incident(
        id=row_id, vendor_id=VendorId(vendor_id), summary=document["summary"],
        aware_at=_moment(document["aware_at"]), recorded_at=as_utc(recorded_at),
        jurisdictions=frozenset(document["jurisdictions"]), source=document["source"],
        status=IncidentStatus(status), met={k: _moment(v) for k, v in document["met"].items()},
        assessment=document["assessment"],
        closed_at=_moment(document["closed_at"]) if document["closed_at"] else None,
        restored_at=_moment(document["restored_at"]) if document.get("restored_at") else None,
    )  # fmt: skip


def subprocessor_document(item: Subprocessor) -> dict[str, Any]:
    return {
        "service": item.service, "data_categories": list(item.data_categories),
        "locations": list(item.locations), "objection_until": item.objection_until.isoformat(),
        "replaces": item.replaces, "decided_by": item.decided_by, "note": item.note,
        "scopes_at_proposal": dict(item.scopes_at_proposal),
    }  # fmt: skip


def subprocessor_of(row_id: str, vendor_id: str, name: str, status: str, details: str, proposed_at: datetime,
                    decided_at: datetime | None) -> Subprocessor:  # fmt: skip
    document = loads(details)
    until = _day(document["objection_until"])
    assert until is not None
    return Subprocessor(
        id=row_id, vendor_id=VendorId(vendor_id), name=name, status=ChangeStatus(status),
        service=document["service"], data_categories=tuple(document["data_categories"]),
        locations=tuple(document["locations"]), proposed_at=as_utc(proposed_at), objection_until=until,
        replaces=document["replaces"], decided_at=as_utc(decided_at) if decided_at else None,
        decided_by=document["decided_by"], note=document["note"],
        scopes_at_proposal={ClientId(k): v for k, v in document["scopes_at_proposal"].items()},
    )  # fmt: skip


def attestation_document(item: Attestation) -> dict[str, Any]:
    return {
        "disposition": item.disposition.value, "signed_by": item.signed_by,
        "signed_on": item.signed_on.isoformat(), "reason": item.reason,
        "document": {"name": item.document.name, "size": item.document.size},
    }  # fmt: skip


def attestation_of(
    row_id: str, vendor_id: str, details: str, recorded_at: datetime, sha256: str
) -> Attestation:
    document = loads(details)
    signed_on = _day(document["signed_on"])
    assert signed_on is not None
    attached = document["document"]
    return Attestation(
        id=row_id, vendor_id=VendorId(vendor_id), disposition=Disposition(document["disposition"]),
        signed_by=document["signed_by"], signed_on=signed_on, recorded_at=as_utc(recorded_at),
        document=Attachment(attached["name"], sha256, attached["size"]), reason=document["reason"],
    )  # fmt: skip
