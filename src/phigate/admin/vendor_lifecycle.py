"""Sub-processor changes (A.4) and offboarding (A.11) as use cases, shared by the admin API and the CLI.

Each use case checks with the domain values, writes through the registry
adapters (which add their lines to the registry's trail, and so to the audit
trail, see :func:`phigate.adapters.sql.vendor_evidence.journal`) and, for a
sub-processor change, notifies the controller through the alert machinery:
:data:`Notify` is the node's alert desk (webhook and e-mail sinks, the alert's
own audit event) on a running node, or the same sinks called directly from the
command line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from phigate.adapters.sql.vendor_evidence import new_id, sha256_hex
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.monitor.detectors import Alert, Severity
from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.evidence import Attachment
from phigate.vendors.offboarding import Attestation, Disposition, plan_termination
from phigate.vendors.records import NotRegistered, RegistrationError, check_vendor_id
from phigate.vendors.subprocessors import Subprocessor, propose

Notify = Callable[[Alert], Awaitable[None]]
DETECTOR = "vendor.subprocessor"


async def propose_subprocessor(
    risk: SqlVendorRisk, rules: VendorSettings, notify: Notify, vendor: str, *, name: str, service: str,
    data_categories: tuple[str, ...], locations: tuple[str, ...], actor: str, now: datetime,
) -> Subprocessor:  # fmt: skip
    """Record a pending change (a new sub-processor, or new terms for a listed one); notify the controller."""
    vendor_id = await _known(risk, vendor)
    item = propose(
        await risk.subprocessors.list(vendor_id), id=new_id("sp"), vendor_id=vendor_id, name=name,
        service=service, data_categories=data_categories, locations=locations, now=now,
        window_days=rules.subprocessor_objection_days,
        scopes=await risk.subprocessors.client_scopes(vendor_id),
    )  # fmt: skip
    await risk.subprocessors.propose(item, actor)
    await notify(change_alert(item))
    return item


async def decide_subprocessor(
    risk: SqlVendorRisk, vendor: str, change_id: str, *, approve: bool, actor: str, now: datetime,
    reason: str = "",
) -> Subprocessor:  # fmt: skip
    """Approve a pending change (its terms go on the list) or object to it (they do not)."""
    item = await risk.subprocessors.get(await _known(risk, vendor), change_id)
    if not approve and not reason.strip():
        raise RegistrationError("reason", "say why the controller objects (kept in the registry)")
    decided = item.approved(actor, now) if approve else item.objected(actor, now, reason)
    await risk.subprocessors.decide(decided, actor)
    return decided


def change_alert(item: Subprocessor) -> Alert:
    """The controller's notice of a pending change: one alert per change (its id is in the subject)."""
    explanation = (
        f"Vendor {item.vendor_id}: sub-processor {item.name} {item.change} ({item.service}; data: "
        f"{', '.join(item.data_categories)}; locations: {', '.join(item.locations)}); pending approval, "
        f"objection window ends {item.objection_until.isoformat()}"
    )
    return Alert(
        detector=DETECTOR, severity=Severity.medium, subject=f"vendor:{item.vendor_id}:{item.id}",
        explanation=explanation, at=item.proposed_at.timestamp(), vendor_id=item.vendor_id,
    )  # fmt: skip


def subprocessor_view(item: Subprocessor) -> dict[str, Any]:
    return {
        "id": item.id, "vendor_id": item.vendor_id, "name": item.name, "service": item.service,
        "data_categories": list(item.data_categories), "locations": list(item.locations),
        "status": item.status.value, "change": item.change, "replaces": item.replaces,
        "proposed_at": item.proposed_at.isoformat(), "objection_until": item.objection_until.isoformat(),
        "decided_at": item.decided_at.isoformat() if item.decided_at else None, "decided_by": item.decided_by,
        "reason": item.note or None,
    }  # fmt: skip


def attestation_of_file(
    vendor_id: VendorId, *, disposition: str, signed_by: str, signed_on: date, file_name: str,
    content: bytes, reason: str, now: datetime,
) -> Attestation:  # fmt: skip
    """The attestation a signed file makes (RegistrationError names a bad field)."""
    try:
        chosen = Disposition(disposition)
    except ValueError:
        raise RegistrationError("disposition", f"must be one of {', '.join(Disposition)}") from None
    document = Attachment(file_name, sha256_hex(content), len(content))
    return Attestation(
        id=new_id("off"), vendor_id=vendor_id, disposition=chosen, signed_by=signed_by, signed_on=signed_on,
        recorded_at=now, document=document, reason=reason,
    )  # fmt: skip


async def offboard(
    risk: SqlVendorRisk, vendor: str, attestation: Attestation | None, content: bytes | None, actor: str
) -> dict[str, Any]:
    """Terminate the vendor: refused without the attestation; revokes, disables and ends at once."""
    vendor_id = check_vendor_id(vendor)
    record = await risk.registry.get(vendor_id)
    if record is None:
        raise NotRegistered(f"No vendor '{vendor_id}' is registered (see `phigate vendor list`).")
    termination = plan_termination(record, await risk.documents.agreements(vendor_id), attestation)
    assert attestation is not None  # plan_termination refuses without one
    disabled = await risk.offboarding.offboard(termination, attestation, content, actor)
    return {
        "id": vendor_id, "status": termination.vendor.status.value, "attestation": attestation.id,
        "file_sha256": attestation.document.sha256, "clients_disabled": disabled,
        "agreements_terminated": [a.id for a in termination.agreements],
    }  # fmt: skip


async def _known(risk: SqlVendorRisk, vendor: str) -> VendorId:
    vendor_id = check_vendor_id(vendor)
    if await risk.registry.get(vendor_id) is None:
        raise NotRegistered(f"No vendor '{vendor_id}' is registered (see `phigate vendor list`).")
    return vendor_id
