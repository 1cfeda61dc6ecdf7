"""A vendor's signed incident report (issue 9): verify, then record the incident once per idempotency key.

Every refusal is an audit event (``vendor.webhook.refused``) naming the check that
failed; the caller learns only that its report was not authenticated, never
whether the vendor exists or holds a secret. The per-vendor secret is stored
encrypted in the secret store (purpose ``vendor-webhook``).

Replays. The signature covers the timestamp and the body, not the
``Idempotency-Key`` header, so inside the 5-minute window a captured report
could be sent again under another key. Each signature is therefore claimed
once in the shared replay cache (every node sees it): the same signed report
again is answered "already recorded" when it was recorded under that key (a
vendor's retry), and refused as a replay otherwise. A vendor that retries after
a failure signs again with a fresh timestamp.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson

from phigate.admin.vendor_audit import AuditSink
from phigate.admin.vendors import VendorAdmin
from phigate.audit.events import AuditEvent, Kind
from phigate.errors import RequestError
from phigate.ports import ReplayCache, SecretStore
from phigate.vendors.records import NotRegistered, RegistrationError, check_vendor_id
from phigate.vendors.webhook import (
    PREFIX,
    REPLAY_WINDOW,
    forged,
    idempotency_problem,
    incident_id,
    stale,
)

PURPOSE = "vendor-webhook"
SOURCE = "webhook"


class WebhookRefused(RequestError):
    """401 without a bearer challenge: the report is signed, not sent with a token."""

    status = 401
    code = "login"
    message = "The incident report is not authenticated: check the vendor id, timestamp and signature."


def secret_name(vendor_id: str) -> str:
    return f"vendor-webhook/{vendor_id}"


async def new_webhook_secret(store: SecretStore, vendor_id: str) -> str:
    """A fresh secret for the vendor (replacing any older one); shown once, stored encrypted."""
    value = secrets.token_urlsafe(32)
    await store.put(secret_name(check_vendor_id(vendor_id)), value.encode(), purpose=PURPOSE)
    return value


class IncidentWebhook:
    def __init__(
        self, store: SecretStore, admin: VendorAdmin, audit: AuditSink, clock: Callable[[], float], *,
        replay: ReplayCache | None = None, admit_vendor: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.admin = admin
        self.audit = audit
        self.clock = clock
        self.replay = replay  # signatures seen, shared by every node
        self.admit_vendor = admit_vendor  # the vendor's rate limit, spent once a report is authenticated

    async def report(
        self, vendor: str, timestamp: str, given: str, key: str, body: bytes, source_ip: str
    ) -> tuple[int, dict[str, Any]]:
        """The reply's status and document: 201 recorded, 200 already recorded (same key)."""
        problem = await self._authenticate(vendor, timestamp, given, body)
        if problem is not None:
            await self._refused(vendor, problem, source_ip)
            raise WebhookRefused()
        if self.admit_vendor is not None:
            await self.admit_vendor(vendor)
        bad_key = idempotency_problem(key)
        if bad_key is not None:
            raise RequestError(bad_key)
        summary, places, aware = _incident_fields(body)
        wanted = incident_id(vendor, key)
        if not await self._first_use(vendor, timestamp, given):
            if not await self._recorded(wanted):
                await self._refused(vendor, "the signed report was received before (a replay)", source_ip)
                raise WebhookRefused()
            return 200, {"id": wanted, "status": "already recorded"}
        try:
            view = await self.admin.record_incident(
                vendor, summary, actor=f"webhook:{vendor}", source=SOURCE, jurisdictions=places,
                aware_at=aware, incident_id=wanted,
            )  # fmt: skip
        except RegistrationError as exc:
            if exc.field != "incident_id":
                raise
            return 200, {"id": wanted, "status": "already recorded"}
        return 201, view

    async def _authenticate(self, vendor: str, timestamp: str, given: str, body: bytes) -> str | None:
        try:
            vendor_id = check_vendor_id(vendor)
        except RegistrationError:
            return "the vendor id is malformed"
        secret = await self.store.get(secret_name(vendor_id))
        if secret is None:
            return "no webhook secret is set for the vendor"
        return stale(timestamp, self.clock()) or forged(secret, timestamp, body, given)

    async def _first_use(self, vendor: str, timestamp: str, given: str) -> bool:
        if self.replay is None:
            return True
        expires = int(timestamp) + REPLAY_WINDOW + 1  # stale() let only a timestamp inside the window through
        return await self.replay.first_use(f"vendor-webhook:{vendor}:{given[len(PREFIX) :]}", expires)

    async def _recorded(self, wanted: str) -> bool:
        try:
            await self.admin.risk.incident(wanted)
        except NotRegistered:
            return False
        return True

    async def _refused(self, vendor: str, problem: str, source_ip: str) -> None:
        try:
            vendor_id: str | None = check_vendor_id(vendor)
        except RegistrationError:
            vendor_id = None  # caller input that is not an id stays out of the trail
        await self.audit(AuditEvent(
            kind=Kind.security, action="vendor.webhook.refused", recorded=self.clock(), vendor_id=vendor_id,
            source_ip=source_ip, method="POST", status=401, outcome="login", reason=problem,
        ))  # fmt: skip


def _incident_fields(body: bytes) -> tuple[str, frozenset[str], datetime | None]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("The report is not valid JSON.") from None
    if not isinstance(document, dict):
        raise RequestError("The report must be a JSON object.")
    summary, places, aware = (
        document.get("summary"),
        document.get("jurisdictions", []),
        document.get("aware_at"),
    )
    if not isinstance(summary, str) or not summary.strip():
        raise RequestError("summary: give a non-empty string.")
    if not isinstance(places, list) or not all(isinstance(p, str) for p in places):
        raise RequestError("jurisdictions: give a list of codes such as US, EU, AU.")
    return summary, frozenset(places), _aware(aware)


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise RequestError("aware_at: give a time with its zone, such as 2026-11-28T10:00:00+00:00.")
    return parsed
