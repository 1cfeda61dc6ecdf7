from __future__ import annotations

from typing import Any

from phigate.audit.events import AuditEvent, Kind
from phigate.monitor.detectors.bulk import BulkOperations
from phigate.settings.audit import DetectorSettings


def exchange(status: int = 200, **rules: Any) -> AuditEvent:
    return AuditEvent(Kind.exchange, "operation", 10.0, client_id="c", status=status, rules=rules)


def test_export_everything_and_large_pages_alert_and_nothing_else_does() -> None:
    detector = BulkOperations(DetectorSettings(bulk_page_size=100))
    export = detector.observe(exchange(operation="export"))
    assert export is not None and export.explanation == "bulk operation $export, served"
    refused = detector.observe(exchange(403, operation="everything"))
    assert refused is not None and refused.explanation.endswith("refused (403)")
    page = detector.observe(exchange(page_size=101))
    assert page is not None and "_count=101 (threshold 100)" in page.explanation
    assert detector.observe(exchange(page_size=100)) is None
    assert detector.observe(exchange(operation="validate")) is None
    assert (
        detector.observe(AuditEvent(Kind.security, "token.issued", 1.0, rules={"operation": "export"}))
        is None
    )
