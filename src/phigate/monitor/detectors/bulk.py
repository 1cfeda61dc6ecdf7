"""Bulk operations: ``$export``, ``$everything`` and searches asking for very large pages.

One call of these moves many patients' records at once, so each is worth a
look even from a client allowed to make it; the alert says which operation or
page size and whether the gateway served it. The event's ``rules`` carry the
operation name and the ``_count`` asked for (numbers and names, no values).
"""

from __future__ import annotations

from phigate.monitor.detectors.alerts import Alert, Observed, Severity
from phigate.settings.audit import DetectorSettings


class BulkOperations:
    name = "bulk-operation"

    def __init__(self, s: DetectorSettings) -> None:
        self.operations = frozenset(s.bulk_operations)
        self.page_size = s.bulk_page_size

    def observe(self, event: Observed) -> Alert | None:
        if event.kind != "exchange":
            return None
        what = self._what(event)
        if what is None:
            return None
        served = "served" if 200 <= event.status < 300 else f"refused ({event.status})"
        subject = event.client_id or f"ip:{event.source_ip or 'unknown'}"
        explanation = f"bulk operation {what}, {served}"
        return Alert(self.name, Severity.medium, subject, explanation, event.recorded, event.client_id,
                     event.vendor_id)  # fmt: skip

    def _what(self, event: Observed) -> str | None:
        operation = event.rules.get("operation")
        if isinstance(operation, str) and operation in self.operations:
            return f"${operation}"
        size = event.rules.get("page_size")
        if isinstance(size, int) and size > self.page_size:
            return f"_count={size} (threshold {self.page_size})"
        return None
