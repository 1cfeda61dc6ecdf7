"""The node's vendor administration (issue 9): audited changes, audited posture transitions, admin token.

Built once per node from its services: the posture gate reports every change of
standing it enforces to the audit trail, and the admin API's changes enter the
same trail (or nowhere, when ``audit.enabled`` is off).
"""

from __future__ import annotations

import contextlib
import time

from starlette.applications import Starlette

from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.admin.vendor_audit import AuditSink, posture_event
from phigate.admin.vendor_lifecycle import Notify
from phigate.admin.vendor_webhook import IncidentWebhook
from phigate.admin.vendors import VendorAdmin
from phigate.asgi.admin_vendors import load_admin_token
from phigate.asgi.admin_webhooks import WebhookGuard, create_webhook_app
from phigate.asgi.services import Services
from phigate.audit.events import AuditEvent
from phigate.monitor.detectors import Alert
from phigate.pipeline.audit import AuditTrail, Evidence
from phigate.pipeline.traffic import Traffic
from phigate.settings import Settings
from phigate.types import VendorId
from phigate.vendors.gate import PostureGate, PostureObserver
from phigate.vendors.posture import Posture


def trail_sink(trail: AuditTrail | None) -> AuditSink:
    async def sink(event: AuditEvent) -> None:
        if trail is not None:
            with contextlib.suppress(OSError):  # logged by the trail; the change itself has committed
                trail.record(event)

    return sink


def vendor_side(
    settings: Settings, services: Services, gate: PostureGate, evidence: Evidence | None,
    traffic: Traffic | None = None,
) -> tuple[VendorAdmin, str | None, Starlette]:  # fmt: skip
    """The node's vendor admin use cases, the admin API token (None: the admin API is off) and the
    public incident webhook's app (behind the traffic guard when the node has one)."""
    trail = evidence.trail if evidence is not None else None
    if trail is not None:
        gate.on_change = _posture_recorder(trail)
    admin = VendorAdmin(
        services.vendors, SqlVendorRisk(services.db, services.keyring), settings.vendors,
        trail_sink(trail), clock=time.time, forget=gate.forget,
        notify=_desk_notice(evidence) if evidence is not None else None,
    )  # fmt: skip
    guard = WebhookGuard.of(settings, traffic) if traffic is not None else None
    webhook = IncidentWebhook(
        SqlSecretStore(services.db, services.keyring), admin, trail_sink(trail), time.time,
        replay=services.shared.replay_cache, admit_vendor=guard.admit_vendor if guard else None,
    )  # fmt: skip
    return admin, load_admin_token(settings.admin_api), create_webhook_app(webhook, guard)


def _desk_notice(evidence: Evidence) -> Notify:
    """Controller notices through the node's alert desk: stored, audited, sent to its webhook and e-mail."""

    async def notify(alert: Alert) -> None:
        evidence.desk.raise_alert(alert)

    return notify


def _posture_recorder(trail: AuditTrail) -> PostureObserver:
    def record(vendor_id: VendorId, previous: Posture | None, posture: Posture) -> None:
        with contextlib.suppress(OSError):  # the request path goes on; the trail logged the failure
            trail.record(posture_event(vendor_id, previous, posture, time.time()))

    return record
