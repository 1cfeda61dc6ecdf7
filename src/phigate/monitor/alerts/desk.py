"""The alert desk: runs the detectors over every audit event, deduplicates, and dispatches.

Detection is synchronous and cheap (it runs right after an event is spooled);
everything slow (store, webhook, reactions) happens in the desk's own task, fed
by a bounded queue, so a slow webhook never holds a request up. An alert seen
again within ``dedup_seconds`` only counts up; it is sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from phigate.monitor.detectors import Alert, Detector, Observed

log = structlog.get_logger("phigate.alerts")
AlertSink = Callable[[Alert, int], Awaitable[None]]  # the alert and how many times it was seen
_QUEUE = 1000


class AlertDesk:
    def __init__(
        self,
        detectors: list[Detector],
        dedup_seconds: float,
        sinks: list[AlertSink],
        record: Callable[[Alert], None] | None = None,
    ) -> None:
        self.detectors = detectors
        self.dedup_seconds = dedup_seconds
        self.sinks = sinks
        self.record = record  # writes the alert's own audit event
        self.raised: list[Alert] = []  # this node's alerts since start (bounded), for tests and the console
        self._last: dict[str, float] = {}
        self._seen: dict[str, int] = {}
        self._queue: asyncio.Queue[tuple[Alert, int]] = asyncio.Queue(_QUEUE)
        self._task: asyncio.Task[None] | None = None

    def observe(self, event: Observed) -> None:
        if event.kind in ("alert", "reaction"):
            return
        for detector in self.detectors:
            alert = detector.observe(event)
            if alert is not None:
                self.raise_alert(alert)

    def raise_alert(self, alert: Alert) -> None:
        key = alert.dedup_key
        self._seen[key] = self._seen.get(key, 0) + 1
        last = self._last.get(key)
        if last is not None and alert.at - last < self.dedup_seconds:
            return
        self._last[key] = alert.at
        self.raised = [*self.raised[-999:], alert]
        log.warning("alert", detector=alert.detector, severity=alert.severity.value, subject=alert.subject,
                    explanation=alert.explanation)  # fmt: skip
        if self.record is not None:
            self.record(alert)
        try:
            self._queue.put_nowait((alert, self._seen[key]))
        except asyncio.QueueFull:
            log.error("alert_queue_full", detector=alert.detector)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-desk")

    async def stop(self, wait_seconds: float = 2.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_seconds):
                await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            alert, count = await self._queue.get()
            try:
                for sink in self.sinks:
                    try:
                        await sink(alert, count)
                    except Exception as exc:  # one failing sink must not silence the others
                        log.error("alert_sink_failed", sink=getattr(sink, "__name__", type(sink).__name__),
                                  error_type=type(exc).__name__)  # fmt: skip
            finally:
                self._queue.task_done()
