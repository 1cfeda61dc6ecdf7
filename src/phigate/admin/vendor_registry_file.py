"""The vendor registry as a YAML document: export, and an import that checks everything before writing.

What travels: each vendor's id, name and suspension; its profile (contacts
included: the file holds vendor staff's names and addresses in clear, so it is
written owner-only); its current evidence and agreements (attachments by name,
size and SHA-256: the files themselves stay in the store); its latest assessment's
answers (re-scored on import by the rules of this gateway, not trusted from the
file); its sub-processors with every change and decision (a pending change stays
pending, with its objection window and the access it holds: no new notice is
sent, it was sent when proposed); a terminated vendor's return-or-destroy
attestation (by hash: the signed file stays in the store). Incidents, reviews
and the trail are history, not registry: not exported.

Import is idempotent: a vendor, evidence item or agreement whose id is already
present is left as it is, so a file can be re-applied. Every record is parsed
and checked before the first write, so a file with one bad value writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from phigate.adapters.sql.vendor_codec import (
    agreement_document,
    agreement_of,
    attestation_document,
    attestation_of,
    dumps,
    evidence_document,
    evidence_of,
    subprocessor_document,
    subprocessor_of,
)
from phigate.adapters.sql.vendor_risk import SqlVendorRisk, VendorProfile
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_lifecycle import offboard
from phigate.vendors.agreements import Agreement
from phigate.vendors.assessment import Assessment, assess
from phigate.vendors.evidence import Evidence
from phigate.vendors.offboarding import Attestation
from phigate.vendors.records import RegistrationError, Vendor, VendorStatus, check_vendor_id
from phigate.vendors.subprocessors import Subprocessor

VERSION = 1


async def export_registry(registry: SqlVendorRegistry, risk: SqlVendorRisk) -> dict[str, Any]:
    return {"version": VERSION, "vendors": [await _vendor_entry(v, risk) for v in await registry.list()]}


async def _vendor_entry(vendor: Vendor, risk: SqlVendorRisk) -> dict[str, Any]:
    dossier = await risk.dossier(vendor.id)
    profile = await risk.profile(vendor.id)
    entry: dict[str, Any] = {"id": vendor.id, "name": vendor.name, "status": vendor.status.value}
    if dossier.suspension is not None:
        entry["suspension_reason"] = dossier.suspension.reason
    entry["profile"] = {**profile.public(), "contacts": dict(profile.contacts)}
    entry["evidence"] = [_evidence_entry(item) for item in dossier.evidence]
    entry["agreements"] = [
        {"id": a.id, "kind": a.kind.value, "recorded_at": a.recorded_at.isoformat(),
         "file_sha256": a.file_sha256, **agreement_document(a)}
        for a in dossier.agreements
    ]  # fmt: skip
    if dossier.assessment is not None:
        a = dossier.assessment
        entry["assessment"] = {"id": a.id, "assessed_at": a.assessed_at.isoformat(), "assessor": a.assessor,
                               "answers": dict(a.answers)}  # fmt: skip
    entry["subprocessors"] = [
        {"id": s.id, "name": s.name, "status": s.status.value, "proposed_at": s.proposed_at.isoformat(),
         "decided_at": s.decided_at.isoformat() if s.decided_at else None, **subprocessor_document(s)}
        for s in dossier.subprocessors
    ]  # fmt: skip
    if dossier.offboarding is not None:
        o = dossier.offboarding
        entry["offboarding"] = {"id": o.id, "recorded_at": o.recorded_at.isoformat(),
                                "file_sha256": o.document.sha256, **attestation_document(o)}  # fmt: skip
    return entry


def _evidence_entry(item: Evidence) -> dict[str, Any]:
    entry = {"id": item.id, "kind": item.kind.value, "recorded_at": item.recorded_at.isoformat(),
             **evidence_document(item)}  # fmt: skip
    if item.attachment is not None:
        entry["attachment"] = {**entry["attachment"], "sha256": item.attachment.sha256}
    return entry


@dataclass
class VendorImport:
    vendor: Vendor
    profile: VendorProfile
    suspension_reason: str | None
    evidence: list[Evidence] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    assessment: Assessment | None = None
    subprocessors: list[Subprocessor] = field(default_factory=list)
    offboarding: Attestation | None = None


def parse_registry(document: Any, now: datetime) -> list[VendorImport]:
    """Every vendor of the file as checked records; RegistrationError names the first bad one."""
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise RegistrationError("version", f"the file is not a phigate vendor registry (version {VERSION})")
    entries = document.get("vendors")
    if not isinstance(entries, list):
        raise RegistrationError("vendors", "give a list of vendors")
    parsed: list[VendorImport] = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(_parse_vendor(_plain(entry), now))
        except (KeyError, TypeError, ValueError, AttributeError, AssertionError) as exc:
            what = f"missing {exc.args[0]}" if isinstance(exc, KeyError) else "a value has the wrong form"
            raise RegistrationError(f"vendors[{index}]", what[:200]) from None
        except RegistrationError as exc:
            raise RegistrationError(f"vendors[{index}].{exc.field}", str(exc).split(": ", 1)[-1]) from None
    ids = [item.vendor.id for item in parsed]
    if len(set(ids)) != len(ids):
        raise RegistrationError("vendors", "a vendor id appears twice")
    return parsed


def _parse_vendor(entry: dict[str, Any], now: datetime) -> VendorImport:
    vendor_id = check_vendor_id(entry["id"])
    vendor = Vendor(id=vendor_id, name=entry["name"], created_at=now)
    p = entry.get("profile") or {}
    profile = VendorProfile(
        legal_name=p.get("legal_name", ""), jurisdictions=tuple(p.get("jurisdictions", ())),
        services=tuple(p.get("services", ())), data_categories=tuple(p.get("data_categories", ())),
        contacts={str(k): str(v) for k, v in (p.get("contacts") or {}).items()},
    )  # fmt: skip
    status = VendorStatus(entry.get("status", "active"))
    reason = entry.get("suspension_reason") or (
        "suspended (imported)" if status is VendorStatus.suspended else None
    )
    result = VendorImport(vendor, profile, reason)
    for e in entry.get("evidence", ()):
        sha = (e.get("attachment") or {}).get("sha256")
        result.evidence.append(
            evidence_of(e["id"], vendor_id, e["kind"], dumps(e), _moment(e["recorded_at"]), sha)
        )
    for a in entry.get("agreements", ()):
        result.agreements.append(
            agreement_of(
                a["id"], vendor_id, a["kind"], dumps(a), _moment(a["recorded_at"]), a.get("file_sha256")
            )
        )
    if entry.get("assessment"):
        a = entry["assessment"]
        result.assessment = assess(a["id"], vendor_id, a["answers"], a["assessor"], _moment(a["assessed_at"]))
    for s in entry.get("subprocessors", ()):
        decided = _moment(s["decided_at"]) if s.get("decided_at") else None
        proposed = _moment(s["proposed_at"])
        result.subprocessors.append(
            subprocessor_of(s["id"], vendor_id, s["name"], s["status"], dumps(s), proposed, decided)
        )
    if entry.get("offboarding"):
        o = entry["offboarding"]
        result.offboarding = attestation_of(
            o["id"], vendor_id, dumps(o), _moment(o["recorded_at"]), o["file_sha256"]
        )
    return result


async def import_registry(
    items: list[VendorImport], registry: SqlVendorRegistry, risk: SqlVendorRisk, actor: str, now: datetime
) -> dict[str, int]:
    """Write the parsed records that are not yet present; how many of each were added."""
    added = {"vendors": 0, "evidence": 0, "agreements": 0, "assessments": 0, "subprocessors": 0,
             "offboardings": 0}  # fmt: skip
    for item in items:
        vendor_id = item.vendor.id
        if await registry.get(vendor_id) is None:
            await registry.add(item.vendor)
            added["vendors"] += 1
        await risk.set_profile(vendor_id, item.profile, actor, now)
        dossier = await risk.dossier(vendor_id)
        have = {e.id for e in dossier.evidence} | {a.id for a in dossier.agreements}
        for evidence in item.evidence:
            if evidence.id not in have:
                await risk.documents.add_evidence(evidence, None, actor)
                added["evidence"] += 1
        for agreement in item.agreements:
            if agreement.id not in have:
                await risk.documents.add_agreement(agreement, None, actor)
                added["agreements"] += 1
        known = {a.id for a in await risk.assessments(vendor_id)}
        if item.assessment is not None and item.assessment.id not in known:
            await risk.add_assessment(item.assessment, actor)
            added["assessments"] += 1
        if item.suspension_reason is not None and dossier.suspension is None and dossier.offboarding is None:
            await risk.suspend(vendor_id, item.suspension_reason, actor, now)
        listed = {s.id for s in dossier.subprocessors}
        for change in item.subprocessors:
            if change.id not in listed:
                await risk.subprocessors.propose(change, actor)
                added["subprocessors"] += 1
        if item.offboarding is not None and dossier.offboarding is None:
            await offboard(risk, vendor_id, item.offboarding, None, actor)
            added["offboardings"] += 1
    return added


def _moment(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    """YAML turns unquoted dates into date objects; the codec reads ISO strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
