"""The record side of the audit trail: one chained, spooled event per exchange and per security action.

:class:`AuditTrail` is node-level: it owns the node's hash chain, its spool and
the writer that drains the spool into the store. :class:`ExchangeAudit` is
handed each exchange once its reply is final (after shaping, before the first
byte goes out):

- a reply already in memory (errors, OperationOutcomes) is scanned and its
  event spooled at once, then sent;
- a streamed reply is wrapped in :class:`AuditedBody`, a tee that hashes and
  scans each chunk as it passes (no parse, no copy beyond a bounded buffer) and
  holds back one chunk, so the event is spooled *before the last byte leaves*.
  A response the caller received therefore always has its event on disk; a
  crash between the spool write and the last byte leaves an event for a reply
  that was cut off (at-least-once: for an accounting of disclosures, recording
  one transfer too many is the safe error). A caller that goes away mid-reply
  gets an event with ``complete: false`` and the patients seen so far.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog

from phigate.adapters.kms.signing import CheckpointKeys
from phigate.adapters.spool import Spool
from phigate.adapters.sql.audit import AuditWriter, SqlAuditStore
from phigate.adapters.sql.database import Database
from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.audit.chain import GENESIS, Chain
from phigate.audit.events import AuditEvent, Kind
from phigate.audit.patients import PatientScan
from phigate.errors import ConfigError, Forbidden, StorageError
from phigate.exchange import Body, Exchange
from phigate.fhir.request import FhirRequest
from phigate.guard.limits import TrafficControl
from phigate.monitor.alerts import AlertDesk, AlertSink, Reactions, RecentTokens, Webhook
from phigate.monitor.alerts.email import EmailAlerts
from phigate.monitor.detectors import Alert, build_detectors
from phigate.monitor.metrics import GatewayMetrics
from phigate.ports import DataCipher, RevocationList
from phigate.settings import Environment, Settings
from phigate.settings.audit import AlertEmailSettings
from phigate.settings.traffic import Rate
from phigate.types import ClientId
from phigate.vendors.clients import ClientRegistry, ClientStatus

log = structlog.get_logger("phigate.audit")
Observer = Callable[[AuditEvent], None]
_FACTS_NOT_RULES = frozenset({"client_id", "vendor_id", "interaction", "resource_type"})


class AuditTrail:
    """One node's chain, spool and writer; :meth:`record` is the one way an event enters the trail.

    Call :meth:`start` before serving (it recovers the chain head from the spool,
    or from the store when the spool is empty) and :meth:`stop` at shutdown.
    Observers (detectors, metrics) see every event after it is spooled; they must
    not raise and must not block.
    """

    def __init__(self, node: str, spool: Spool, writer: AuditWriter, batch_size: int = 500) -> None:
        self.node = node
        self.spool = spool
        self.writer = writer
        self.batch_size = batch_size
        self.chain = Chain(node)
        self.observers: list[Observer] = []
        self.failures = 0

    async def start(self) -> None:
        last = self.spool.open()
        try:
            stored_seq, stored_hash = await self.writer.store.head(self.node)
        except Exception:  # the store may be down at start-up: the spool alone carries the chain on
            log.warning("audit_store_unavailable_at_start", node=self.node)
            stored_seq, stored_hash = 0, GENESIS
        if last is not None and last.seq >= stored_seq:
            self.chain = Chain(self.node, last.seq, last.hash)
        else:
            self.chain = Chain(self.node, stored_seq, stored_hash)
        self.writer.stored_seq, self.writer.stored_hash = stored_seq, stored_hash
        self.writer.spooled_seq = self.chain.seq
        self.spool.start()
        self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()
        await self.spool.close()

    def record(self, event: AuditEvent) -> None:
        """Chain and spool one event (raises OSError when the spool's disk refuses)."""
        chained = self.chain.append(event.record())
        try:
            self.spool.append(chained)
        except OSError:
            self.failures += 1
            self.chain.seq, self.chain.head = chained.seq - 1, chained.prev_hash  # nothing was spooled
            log.error("audit_spool_write_failed", node=self.node)
            raise
        self.writer.spooled_seq = chained.seq
        if self.writer.lag >= self.batch_size:
            self.writer.wake()
        for observer in self.observers:
            observer(event)

    def security(self, action: str, **fields: Any) -> None:
        """A security action (token issued or refused, client suspended, ...); never raises."""
        with contextlib.suppress(OSError):  # already logged; the action itself goes on
            self.record(AuditEvent(kind=Kind.security, action=action, recorded=time.time(), **fields))


class ExchangeAudit:
    """The per-route hook the pipeline calls once an exchange's reply is final."""

    def __init__(
        self, trail: AuditTrail, inspect_max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.trail = trail
        self.inspect_max_bytes = inspect_max_bytes
        self.clock = clock

    def __call__(self, ex: Exchange) -> None:
        reply = ex.reply
        assert reply is not None
        head = ex.method == "HEAD"
        scan = PatientScan(_header(reply.headers, "content-type"), _header(reply.headers, "content-encoding"),
                           self.inspect_max_bytes)  # fmt: skip
        if isinstance(reply.body, bytes):
            body = b"" if head else reply.body
            scan.feed(body)
            self.finish(ex, scan, hashlib.sha256(body), len(body), complete=True)
            return
        reply.body = AuditedBody(reply.body, scan, lambda s, h, n, done: self.finish(ex, s, h, n, done), head)

    def finish(self, ex: Exchange, scan: PatientScan, digest: Any, sent: int, complete: bool) -> None:
        self.trail.record(exchange_event(ex, scan.finish(), digest.hexdigest() if sent else None, sent,
                                         complete, self.clock()))  # fmt: skip


Finish = Callable[[PatientScan, Any, int, bool], None]


class AuditedBody:
    """A streamed reply body that spools its exchange's event before its last chunk is yielded."""

    def __init__(self, inner: Body, scan: PatientScan, finish: Finish, head: bool) -> None:
        self._inner = inner
        self._scan = scan
        # ``finish`` refers to the exchange, whose reply refers to this body: a reference cycle until
        # the event is spooled. Dropping it then lets reference counting free the exchange at once;
        # kept, every audited exchange would wait for the garbage collector (and make it work hard).
        self._finish: Finish | None = finish
        self._head = head
        self._digest = hashlib.sha256()
        self._sent = 0

    async def iter_body(self) -> AsyncIterator[bytes]:
        pending: bytes | None = None
        async for chunk in self._inner.iter_body():
            self._observe(chunk)
            if pending is not None:
                yield pending
            pending = chunk
        self._end(complete=True)  # write-ahead: on disk before the last byte leaves
        if pending is not None:
            yield pending

    async def read(self, max_bytes: int) -> bytes:
        data = await self._inner.read(max_bytes)
        self._observe(data)
        self._end(complete=True)
        return data

    async def close(self) -> None:
        try:
            self._end(complete=self._head)  # HEAD sends no body; otherwise the caller went away
        finally:
            await self._inner.close()

    def _observe(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._sent += len(chunk)
        self._scan.feed(chunk)

    def _end(self, complete: bool) -> None:
        finish, self._finish = self._finish, None
        if finish is not None:
            finish(self._scan, self._digest, self._sent, complete)


def exchange_event(
    ex: Exchange, patients: set[str], body_sha256: str | None, sent: int, complete: bool, now: float
) -> AuditEvent:
    """The audit event of one exchange: identifiers and decisions, never values, bodies or tokens."""
    facts = ex.facts
    fhir = ex.fhir
    status = ex.reply.status if ex.reply is not None else 0
    resource_ids = tuple(i for i in (fhir.id if fhir else None,) if i)
    if fhir is not None and fhir.compartment is not None:
        resource_ids += (f"{fhir.compartment.type}/{fhir.compartment.id}",)
    rules = {k: _safe(v) for k, v in facts.items() if k not in _FACTS_NOT_RULES}
    if ex.identity is not None:
        rules["token_id"] = ex.identity.token_id  # the jti names the token (BALP agent.policy); not the token
        rules["token_expires"] = ex.identity.expires_at
        if ex.identity.break_glass:
            rules["break_glass"] = ex.identity.break_glass  # emergency access: every event names its record
    if ex.upstream_target:
        rules["upstream"] = ex.upstream_target
    if fhir is not None and fhir.operation:
        rules["operation"] = fhir.operation  # the bulk-operation detector reads these two
    size = _page_size(fhir)
    if size is not None:
        rules["page_size"] = size
    return AuditEvent(
        kind=Kind.exchange,
        action=str(facts.get("interaction", "none")),
        recorded=now,
        request_id=ex.request_id,
        client_id=_str(facts.get("client_id")),
        vendor_id=_str(facts.get("vendor_id")),
        user=_user(ex),
        source_ip=ex.client_ip,
        method=ex.method,
        resource_type=fhir.resource_type if fhir is not None else None,
        resource_ids=resource_ids,
        patients=tuple(sorted(patients)) if 200 <= status < 300 else (),
        status=status,
        outcome=ex.error.code if ex.error is not None else "ok",
        reason=ex.error.message if isinstance(ex.error, Forbidden) else None,
        rules=rules,
        body_sha256=body_sha256,
        bytes_sent=sent,
        complete=complete,
    )


def _page_size(fhir: FhirRequest | None) -> int | None:
    """The ``_count`` asked for (a number, not a value of anyone's record), when there is one."""
    counts = fhir.named("_count") if fhir is not None else ()
    raw = counts[0].values[0].raw if counts and counts[0].values else ""
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def _user(ex: Exchange) -> str | None:
    """The person an app acted for: their FHIR resource, else their subject id (BALP user agent)."""
    if ex.identity is None:
        return None
    return ex.identity.fhir_user or ex.identity.person


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _safe(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    return str(value)


def spool_directory(settings: Settings, node_id: str) -> Path:
    """The node's spool: ``audit.spool_dir``, else beside a SQLite store, else under the temp dir.

    Set ``audit.spool_dir`` in production with PostgreSQL: the temp dir may not survive a reboot.
    """
    node = re.sub(r"[^A-Za-z0-9_.-]", "_", node_id)[:128] or "node"
    if settings.audit.spool_dir is not None:
        return settings.audit.spool_dir / node
    url = settings.storage.url or ""
    if url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///") or ":memory:" in url:
        return (
            Path(tempfile.mkdtemp(prefix="phigate-audit-spool-")) / node
        )  # an ephemeral store: an ephemeral spool
    if url.startswith("sqlite+aiosqlite:///"):
        return Path(url.removeprefix("sqlite+aiosqlite:///")).parent / "audit-spool" / node
    # One spool per store, so two stores used from one host never share a chain.
    store = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "phigate-audit-spool" / store / node


class Evidence:
    """The node's evidence plane: audit trail, metrics by client, detectors, alerts and reactions."""

    def __init__(
        self,
        settings: Settings,
        node_id: str,
        metrics: GatewayMetrics,
        db: Database,
        cipher: DataCipher,
        clients: ClientRegistry,
        revocations: RevocationList,
        *,
        control: TrafficControl | None = None,  # the traffic guard's control point, for "tighten rate"
    ) -> None:
        a = settings.audit
        self.control = control
        self.db, self.cipher, self.metrics = db, cipher, metrics
        self.store = SqlAuditStore(db)
        self.keys = CheckpointKeys({})
        spool = Spool(spool_directory(settings, node_id), a.fsync, a.fsync_interval_seconds)
        writer = AuditWriter(
            self.store, spool, node_id, lambda: self.keys.signing,
            batch_size=a.batch_size, flush_interval=a.flush_interval_seconds,
            checkpoint_interval=a.checkpoint_interval_seconds,
        )  # fmt: skip
        self.trail = AuditTrail(node_id, spool, writer, a.batch_size)
        self.tokens = RecentTokens()
        sinks: list[AlertSink] = [self._store_alert]
        secret = os.environ.get(a.webhook_secret_env, "") if a.webhook_secret_env else ""
        if a.webhook_url is not None:
            sinks.append(Webhook(str(a.webhook_url), secret.encode()))
        if a.email is not None:
            sinks.append(email_alerts(a.email, dev=settings.environment is Environment.dev))
        tighten = self._tighten if control is not None else None
        sinks.append(Reactions(a.reactions, self.tokens, self._suspend, revocations.revoke, self._reaction,
                               tighten=tighten))  # fmt: skip
        self.clients = clients
        self.desk = AlertDesk(build_detectors(a.detectors), a.alert_dedup_seconds, sinks, self._alert)
        self.trail.observers += [self._count, self.tokens.observe, self.desk.observe]

    async def start(self) -> None:
        try:
            self.keys = await CheckpointKeys.load(SqlSecretStore(self.db, self.cipher), create=True)
        except StorageError:  # checkpoints wait for a restart with the store back; events do not wait
            log.warning("audit_checkpoint_key_unavailable")
        await self.trail.start()
        self.desk.start()

    async def stop(self) -> None:
        await self.desk.stop()
        await self.trail.stop()

    def on_token(self, action: str, fields: dict[str, Any]) -> None:
        self.trail.security(action, **fields)

    def _count(self, event: AuditEvent) -> None:
        labels = (event.kind.value, event.client_id or "none", event.vendor_id or "none", event.outcome)
        self.metrics.audited.labels(*labels).inc()
        self.metrics.audit_lag.set(self.trail.writer.lag)

    async def _store_alert(self, alert: Alert, count: int) -> None:
        self.metrics.alerts.labels(alert.detector, alert.severity.value).inc()
        values = {
            "dedup_key": alert.dedup_key[:300],
            "detector": alert.detector,
            "severity": alert.severity.value,
            "client_id": alert.client_id,
            "vendor_id": alert.vendor_id,
            "first_seen": alert.at,
            "last_seen": alert.at,
            "count": count,
            "explanation": alert.explanation,
        }
        await self.store.add_alert(values)

    def _alert(self, alert: Alert) -> None:
        with contextlib.suppress(OSError):  # logged by record; the alert still goes out
            self.trail.record(alert_event(alert))

    def _reaction(self, action: str, alert: Alert, rules: dict[str, Any]) -> None:
        reason = f"alert {alert.detector}: {alert.explanation}"
        rules = rules | {"detector": alert.detector}
        event = AuditEvent(Kind.reaction, action, time.time(), client_id=alert.client_id,
                           vendor_id=alert.vendor_id, reason=reason, rules=rules)  # fmt: skip
        with contextlib.suppress(OSError):
            self.trail.record(event)

    async def _suspend(self, client_id: str) -> None:
        await self.clients.set_status(ClientId(client_id), ClientStatus.disabled)

    async def _tighten(self, client_id: str, rate: Rate, seconds: float) -> None:
        assert self.control is not None
        await self.control.tighten(client_id, rate, seconds)


def email_alerts(s: AlertEmailSettings, dev: bool) -> EmailAlerts:
    """The email sink; its password is read from the environment once, here, at start-up."""
    if s.security == "none" and not dev:
        raise ConfigError(problems=["audit.email.security: plain SMTP is refused outside environment: dev"])
    password = os.environ.get(s.password_env) if s.password_env else None
    if s.password_env and password is None:
        raise ConfigError(
            problems=[f"audit.email.password_env: environment variable {s.password_env} is not set"]
        )
    context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
    return EmailAlerts(s.host, s.port, s.sender, s.recipients, security=s.security, context=context,
                       username=s.username, password=password, timeout_seconds=s.timeout_seconds)  # fmt: skip


def alert_event(alert: Alert) -> AuditEvent:
    return AuditEvent(
        kind=Kind.alert,
        action=alert.detector,
        recorded=alert.at,
        client_id=alert.client_id,
        vendor_id=alert.vendor_id,
        outcome=alert.severity.value,
        reason=alert.explanation,
        rules={"subject": alert.subject},
    )
