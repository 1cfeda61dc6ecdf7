"""Expiry reminders and overdue-review alerts (compliance-controls A.6, A.7; access reviews), sent once.

Two ways in, one use case: each gateway node runs a :class:`NoticeSchedule`
(every ``vendors.notice_check_seconds``), and ``phigate vendor reminders --send``
does the same from cron. Either way a notice is claimed in the database before
it is sent (:class:`SqlVendorNotices`), so a notice goes out once across every
node and run: an expiry reminder once per artefact and lead time, an overdue
review once per ``vendors.overdue_alert_hours``.

A notice leaves as an :class:`Alert` through the alert machinery: on a node the
alert desk (stored, logged, audit event, webhook, email); from the CLI the same
sinks, awaited. A sender that fails raises :class:`NoticeNotSent` and the claim
is released, so the next run tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.vendor_notices import SqlVendorNotices
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.errors import PhigateError
from phigate.monitor.detectors import Alert, Severity
from phigate.ports import DataCipher
from phigate.settings.vendors import VendorSettings
from phigate.vendors.reminders import Notice, NoticeKind, notices_due

log = structlog.get_logger("phigate.vendors")
Send = Callable[[Alert], Awaitable[None]]
DETECTORS = {
    NoticeKind.expiry: "vendor-expiry",
    NoticeKind.assessment_overdue: "vendor-review-overdue",
    NoticeKind.review_overdue: "access-review-overdue",
}


class NoticeNotSent(PhigateError):
    """An alert sink failed; the notice stays due."""

    message = "The reminder could not be sent."


def notice_alert(notice: Notice, at: float) -> Alert:
    if notice.kind is NoticeKind.expiry:
        lead = notice.lead_days or 0
        severity = Severity.high if lead <= 1 else Severity.medium if lead <= 7 else Severity.low
    else:
        severity = Severity.high if notice.kind is NoticeKind.assessment_overdue else Severity.medium
    detector = DETECTORS[notice.kind]
    return Alert(detector, severity, notice.subject, notice.text, at, vendor_id=notice.vendor_id)


@dataclass(frozen=True)
class DueNotice:
    notice: Notice
    last_sent: datetime | None  # None: never sent
    pending: bool  # it would be sent now


@dataclass
class Sending:
    sent: list[Notice] = field(default_factory=list)
    failed: list[tuple[Notice, str]] = field(default_factory=list)


class VendorNotices:
    def __init__(self, db: Database, cipher: DataCipher, rules: VendorSettings) -> None:
        self.registry = SqlVendorRegistry(db)
        self.risk = SqlVendorRisk(db, cipher)
        self.reviews = SqlAccessReviews(db)
        self.store = SqlVendorNotices(db)
        self.rules = rules
        self.repeat = timedelta(hours=rules.overdue_alert_hours)

    async def due(self, now: datetime) -> list[DueNotice]:
        """Every notice due today, with when it last went out."""
        dossiers = [await self.risk.dossier(vendor.id) for vendor in await self.registry.list()]
        notices = notices_due(dossiers, await self.reviews.list(), self.rules, now.date())
        sent = {n.key: n.sent_at for n in await self.store.sent(keys=[n.key for n in notices])}
        return [DueNotice(n, sent.get(n.key), self._pending(n, sent.get(n.key), now)) for n in notices]

    async def send(self, send: Send, now: datetime) -> Sending:
        """Claim and send every pending notice; what another node or run claimed first is skipped."""
        done = Sending()
        for item in await self.due(now):
            if not item.pending or not await self.store.claim(item.notice, now, self.repeat):
                continue
            try:
                await send(notice_alert(item.notice, now.timestamp()))
            except NoticeNotSent as exc:
                await self.store.release(item.notice.key)
                done.failed.append((item.notice, exc.message))
                continue
            done.sent.append(item.notice)
        return done

    def _pending(self, notice: Notice, last: datetime | None, now: datetime) -> bool:
        if last is None:
            return True
        return notice.repeats and now - last >= self.repeat


class NoticeSchedule:
    """One per node: checks at start, then every ``interval`` seconds, until :meth:`stop`."""

    def __init__(
        self, notices: VendorNotices, send: Send, interval: float, clock: Callable[[], float]
    ) -> None:
        self.notices = notices
        self.send = send
        self.interval = interval
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> Sending:
        done = await self.notices.send(self.send, datetime.fromtimestamp(self.clock(), UTC))
        if done.sent:
            log.info("vendor_notices_sent", count=len(done.sent))
        return done

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="vendor-notices")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except PhigateError as exc:  # the store is away: the next round tries again
                log.warning("vendor_notices_failed", error=exc.message)
            except Exception as exc:  # whatever else failed must not end the node's checks
                log.error("vendor_notices_failed", error_type=type(exc).__name__)
            await asyncio.sleep(self.interval)


def node_schedule(
    db: Database,
    cipher: DataCipher,
    rules: VendorSettings,
    raise_alert: Callable[[Alert], None] | None,
    clock: Callable[[], float],
) -> NoticeSchedule | None:
    """The node's schedule, sending through its alert desk; None when checks are off or there is no desk
    (``audit.enabled: false``: use ``phigate vendor reminders --send`` instead)."""
    if raise_alert is None or rules.notice_check_seconds == 0:
        return None
    desk = raise_alert

    async def send(alert: Alert) -> None:
        desk(alert)  # queued: stored, logged, audited and sent by the desk's own task

    return NoticeSchedule(VendorNotices(db, cipher, rules), send, rules.notice_check_seconds, clock)
