"""Forwarding the stored audit trail to a SIEM over TCP (TLS, or plain TCP in dev only).

The forwarder reads each node's chain from the store in order, after the
cursor it keeps in the store per target (so a restart resumes where it left
off), sends a batch, and advances the cursor once the batch is written. A
connection that fails is retried a bounded number of times with back-off, the
unacknowledged batch resent (at least once: a receiver deduplicates on the
node and seq each message carries), and then :class:`SiemUnavailable` is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from phigate.adapters.sql.audit import SqlAuditStore
from phigate.audit.chain import ChainedEvent
from phigate.audit.siem import json_line, octet_counted, syslog_message
from phigate.errors import ConfigError, StorageError
from phigate.settings.audit import SiemSettings

log = structlog.get_logger("phigate.siem")


class SiemUnavailable(StorageError):
    message = "The SIEM cannot be reached."


@dataclass(frozen=True)
class SiemTarget:
    host: str
    port: int
    tls: ssl.SSLContext | None  # None: plain TCP (dev only)

    @classmethod
    def of(cls, s: SiemSettings, dev: bool) -> SiemTarget:
        url = urlsplit(s.url)
        if url.scheme not in ("tls", "tcp") or not url.hostname or url.port is None:
            raise ConfigError(problems=["audit.siem.url: give tls://host:port (or tcp://host:port in dev)"])
        if url.scheme == "tcp" and not dev:
            raise ConfigError(problems=["audit.siem.url: plain TCP is refused outside environment: dev"])
        return cls(url.hostname, url.port, _context(s) if url.scheme == "tls" else None)


def _context(s: SiemSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if s.cert_file is not None:
        context.load_cert_chain(s.cert_file, s.key_file)
    return context


class SiemForwarder:
    """Sends stored events to one target; :meth:`forward` until caught up, :meth:`run` to follow."""

    def __init__(
        self,
        store: SqlAuditStore,
        target: SiemTarget,
        settings: SiemSettings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store, self.target, self.settings = store, target, settings
        self.hostname = settings.hostname or socket.gethostname()
        self._encode = json_line if settings.format == "json" else self._syslog
        self._sleep = sleep
        self._writer: asyncio.StreamWriter | None = None
        self.sent = 0

    def _syslog(self, event: ChainedEvent) -> bytes:
        return octet_counted(syslog_message(event, self.hostname))

    async def forward(self) -> int:
        """Send every stored event not yet sent; return how many were sent."""
        sent = 0
        while batch := await self._next_batch():
            events, positions = batch
            await self._send(b"".join(self._encode(e) for e in events))
            await self.store.advance(self.settings.cursor, positions)
            sent += len(events)
        self.sent += sent
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the trail until ``stop`` is set, polling every ``poll_seconds``."""
        try:
            while not stop.is_set():
                await self.forward()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)
        finally:
            await self.close()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _next_batch(self) -> tuple[list[ChainedEvent], dict[str, int]] | None:
        """The next events of every node after the cursor, merged by time (each node's in chain order)."""
        cursor = await self.store.cursor(self.settings.cursor)
        events: list[ChainedEvent] = []
        positions: dict[str, int] = {}
        for node in await self.store.nodes():
            found = await self.store.after(node, cursor.get(node, 0), self.settings.batch_size)
            if found:
                events += found
                positions[node] = found[-1].seq
        if not events:
            return None
        events.sort(key=lambda e: (float(e.event.get("recorded", 0.0)), e.node, e.seq))
        return events, positions

    async def _send(self, data: bytes) -> None:
        delay = self.settings.retry_seconds
        for attempt in range(self.settings.retries + 1):
            try:
                writer = await self._connected()
                writer.write(data)
                async with asyncio.timeout(self.settings.timeout_seconds):
                    await writer.drain()
                return
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                await self.close()
                log.warning("siem_send_failed", attempt=attempt + 1, error_type=type(exc).__name__)
                if attempt < self.settings.retries:
                    await self._sleep(delay)
                    delay = min(delay * 2, 30.0)
        raise SiemUnavailable(f"The SIEM did not accept events after {self.settings.retries + 1} attempts.")

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        target = self.target
        async with asyncio.timeout(self.settings.timeout_seconds):
            _, writer = await asyncio.open_connection(
                target.host, target.port, ssl=target.tls, server_hostname=target.host if target.tls else None
            )
        self._writer = writer
        return writer
