"""What ``phigate vendor reminders`` needs: the due notices as views, and a sender for the command line.

The CLI has no node and no alert desk, so it sends a notice through the same
sinks the nodes configure from ``audit.*`` (the signed webhook, email), awaited
one by one; once they took it, the alert is stored (``phigate audit alerts``)
and written to the audit trail. A sink that fails leaves the notice due: the
next run sends it again.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from phigate.adapters.sql.audit import SqlAuditStore
from phigate.adapters.sql.database import Database
from phigate.admin.vendor_audit import store_sink
from phigate.admin.vendor_notices import DueNotice, NoticeNotSent, Send, Sending, VendorNotices
from phigate.monitor.alerts import AlertSink, Webhook
from phigate.monitor.detectors import Alert
from phigate.pipeline.audit import alert_event, email_alerts
from phigate.ports import DataCipher
from phigate.settings import Environment, ResolvedSettings


async def cli_sender(resolved: ResolvedSettings, db: Database, cipher: DataCipher) -> Send:
    settings = resolved.settings
    audit = settings.audit
    sinks: list[tuple[str, AlertSink]] = []
    if audit.webhook_url is not None:
        secret = os.environ.get(audit.webhook_secret_env, "") if audit.webhook_secret_env else ""
        sinks.append(("webhook", Webhook(str(audit.webhook_url), secret.encode())))
    if audit.email is not None:
        sinks.append(("email", email_alerts(audit.email, dev=settings.environment is Environment.dev)))
    trail = await store_sink(db, cipher)
    store = SqlAuditStore(db)

    async def send(alert: Alert) -> None:
        for name, sink in sinks:
            try:
                await sink(alert, 1)
            except Exception as exc:  # any failure of the sink (network, TLS, SMTP): the notice stays due
                raise NoticeNotSent(f"the {name} alert sink failed ({type(exc).__name__})") from None
        await store.add_alert(_stored(alert))
        await trail(alert_event(alert))

    return send


async def reminders_view(
    resolved: ResolvedSettings, db: Database, cipher: DataCipher, now: datetime, *, send: bool
) -> dict[str, Any]:
    """What is due (and, with ``send``, what was sent now and what failed)."""
    notices = VendorNotices(db, cipher, resolved.settings.vendors)
    done = await notices.send(await cli_sender(resolved, db, cipher), now) if send else Sending()
    due = await notices.due(now)
    return {
        "due": [_due(item) for item in due],
        "sent": [n.key for n in done.sent],
        "failed": [{"key": n.key, "reason": reason} for n, reason in done.failed],
    }


def render_reminders(view: dict[str, Any]) -> str:
    lines = [f"{_state(item, view['sent']):<20} {item['text']}" for item in view["due"]]
    lines += [f"{'FAILED':<20} {item['key']}: {item['reason']}" for item in view["failed"]]
    return "\n".join(lines) or "nothing due"


def _state(item: dict[str, Any], sent_now: list[str]) -> str:
    if item["key"] in sent_now:
        return "sent now"
    if item["state"] == "sent":
        return f"sent {item['last_sent'][:16]}"
    return "due"


def _due(item: DueNotice) -> dict[str, Any]:
    return {
        "key": item.notice.key,
        "kind": item.notice.kind.value,
        "vendor_id": item.notice.vendor_id,
        "text": item.notice.text,
        "state": "due" if item.pending else "sent",
        "last_sent": item.last_sent.isoformat() if item.last_sent is not None else None,
    }


def _stored(alert: Alert) -> dict[str, Any]:
    return {
        "dedup_key": alert.dedup_key[:300], "detector": alert.detector, "severity": alert.severity.value,
        "client_id": alert.client_id, "vendor_id": alert.vendor_id, "first_seen": alert.at,
        "last_seen": alert.at, "count": 1, "explanation": alert.explanation,
    }  # fmt: skip
