"""Vendor administration over the ports: list, show (posture with reasons), incidents, suspend, reinstate,
sub-processor changes and offboarding (:mod:`phigate.admin.vendor_lifecycle`).

One place for what the admin API and the signed incident webhook do to a vendor,
so that both audit the same way: every registry change is collected while it is
written (:func:`journal`) and sent to the audit sink once it has committed; a
change that fails leaves no audit event and no registry line. The node's posture
gate is told to forget its cached dossier, so the node that took the change
enforces it on its next request (other nodes within ``vendors.cache_seconds``).
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from phigate.adapters.sql.vendor_evidence import journal
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_audit import AuditSink, audit_changes
from phigate.admin.vendor_lifecycle import (
    Notify,
    decide_subprocessor,
    offboard,
    propose_subprocessor,
    subprocessor_view,
)
from phigate.monitor.detectors import Alert
from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.dossier import Dossier
from phigate.vendors.incidents import Incident
from phigate.vendors.offboarding import Attestation
from phigate.vendors.posture import Posture, evaluate
from phigate.vendors.records import NotRegistered, Vendor, check_name, check_vendor_id

Forget = Callable[[VendorId], None]
T = TypeVar("T")
log = structlog.get_logger("phigate.admin")


class VendorAdmin:
    def __init__(
        self,
        registry: SqlVendorRegistry,
        risk: SqlVendorRisk,
        rules: VendorSettings,
        audit: AuditSink,
        *,
        clock: Callable[[], float],
        forget: Forget | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.registry = registry
        self.risk = risk
        self.rules = rules
        self.audit = audit
        self.clock = clock
        self.forget = forget
        self.notify = notify or _unsent

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def list(self) -> list[dict[str, Any]]:
        return [await self._summary(vendor) for vendor in await self.registry.list()]

    async def show(self, vendor_id: str) -> dict[str, Any]:
        vendor = await self._vendor(vendor_id)
        posture, dossier = await self._posture(vendor.id)
        incidents = [incident_view(item, dossier) for item in dossier.incidents]
        return {
            "id": vendor.id, "name": vendor.name, "status": vendor.status.value, **posture.as_dict(),
            "incidents": incidents, "subprocessors": [subprocessor_view(s) for s in dossier.subprocessors],
        }  # fmt: skip

    async def record_incident(
        self, vendor_id: str, summary: str, *, actor: str, source: str,
        jurisdictions: frozenset[str] = frozenset(), aware_at: datetime | None = None,
        incident_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Record an incident (suspends or restricts the vendor by policy and revokes its tokens)."""
        vendor = await self._vendor(vendor_id)
        now = self.now()
        item = Incident(
            id=incident_id or f"inc-{secrets.token_hex(8)}", vendor_id=vendor.id, summary=summary,
            aware_at=aware_at or now, recorded_at=now, jurisdictions=jurisdictions, source=source,
        )  # fmt: skip
        await self._audited(vendor.id, self.risk.record_incident(item, actor))
        dossier = await self.risk.dossier(vendor.id)
        return {**incident_view(item, dossier), "standing": evaluate(dossier, self.rules, now).standing.value}

    async def suspend(self, vendor_id: str, reason: str, *, actor: str) -> dict[str, Any]:
        vendor = await self._vendor(vendor_id)
        await self._audited(
            vendor.id, self.risk.suspend(vendor.id, check_name(reason, "reason"), actor, self.now())
        )
        return await self.show(vendor.id)

    async def reinstate(self, vendor_id: str, *, actor: str) -> dict[str, Any]:
        vendor = await self._vendor(vendor_id)
        await self._audited(vendor.id, self.risk.reinstate(vendor.id, actor, self.now()))
        return await self.show(vendor.id)

    async def subprocessors(self, vendor_id: str) -> builtins.list[dict[str, Any]]:
        vendor = await self._vendor(vendor_id)
        return [subprocessor_view(item) for item in await self.risk.subprocessors.list(vendor.id)]

    async def propose_subprocessor(
        self, vendor_id: str, *, name: str, service: str, data_categories: tuple[str, ...],
        locations: tuple[str, ...], actor: str,
    ) -> dict[str, Any]:  # fmt: skip
        """A pending sub-processor change: the controller is notified; the vendor is pending review."""
        vendor = await self._vendor(vendor_id)
        item = await self._audited(vendor.id, propose_subprocessor(
            self.risk, self.rules, self.notify, vendor.id, name=name, service=service,
            data_categories=data_categories, locations=locations, actor=actor, now=self.now(),
        ))  # fmt: skip
        return {**subprocessor_view(item), "standing": (await self._posture(vendor.id))[0].standing.value}

    async def decide_subprocessor(
        self, vendor_id: str, change_id: str, *, approve: bool, actor: str, reason: str = ""
    ) -> dict[str, Any]:
        vendor = await self._vendor(vendor_id)
        item = await self._audited(vendor.id, decide_subprocessor(
            self.risk, vendor.id, change_id, approve=approve, actor=actor, now=self.now(), reason=reason,
        ))  # fmt: skip
        return {**subprocessor_view(item), "standing": (await self._posture(vendor.id))[0].standing.value}

    async def offboard(
        self, vendor_id: str, attestation: Attestation | None, content: bytes | None, *, actor: str
    ) -> dict[str, Any]:
        """Terminate the vendor with its return-or-destroy attestation (refused without one)."""
        vendor = await self._vendor(vendor_id)
        result = await self._audited(vendor.id, offboard(self.risk, vendor.id, attestation, content, actor))
        return {**result, "standing": (await self._posture(vendor.id))[0].as_dict()}

    async def _audited(self, vendor_id: VendorId, change: Awaitable[T]) -> T:
        with journal() as changes:
            result = await change
        await audit_changes(self.audit, changes)
        if self.forget is not None:
            self.forget(vendor_id)
        return result

    async def _vendor(self, vendor_id: str) -> Vendor:
        vendor = await self.registry.get(check_vendor_id(vendor_id))
        if vendor is None:
            raise NotRegistered(f"No vendor '{vendor_id}' is registered.")
        return vendor

    async def _posture(self, vendor_id: VendorId) -> tuple[Posture, Dossier]:
        dossier = await self.risk.dossier(vendor_id)
        return evaluate(dossier, self.rules, self.now()), dossier

    async def _summary(self, vendor: Vendor) -> dict[str, Any]:
        posture, _ = await self._posture(vendor.id)
        return {"id": vendor.id, "name": vendor.name, "standing": posture.standing.value,
                "reasons": list(posture.reasons)}  # fmt: skip


async def _unsent(alert: Alert) -> None:
    """Without an alert desk (audit off) the notice is only logged; the change is in the registry's trail."""
    log.warning("vendor_notice_not_sent", detector=alert.detector, explanation=alert.explanation)


def incident_view(item: Incident, dossier: Dossier) -> dict[str, Any]:
    hours = min((a.breach_notice_hours for a in dossier.agreements if a.breach_notice_hours), default=None)
    return {
        "id": item.id, "vendor_id": item.vendor_id, "summary": item.summary, "status": item.status.value,
        "source": item.source, "aware_at": item.aware_at.isoformat(),
        "clocks": [
            {"name": c.name, "due_at": c.due_at.isoformat(), "duty": c.duty,
             "met_at": c.met_at.isoformat() if c.met_at else None}
            for c in item.clocks(hours)
        ],
    }  # fmt: skip
