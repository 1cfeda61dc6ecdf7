from __future__ import annotations

from phigate.audit.chain import Chain
from phigate.audit.events import AuditEvent, Kind
from phigate.audit.siem import octet_counted, syslog_message


def test_a_syslog_message_escapes_structured_data_and_cleans_header_fields() -> None:
    event = Chain('node "a"]\\').append(
        AuditEvent(Kind.alert, "honey-token", 0.5, outcome="critical").record()
    )
    message = syslog_message(event, hostname="gate way")
    assert message.startswith(b"<105>1 1970-01-01T00:00:00.500000Z gateway phigate - alert ")
    assert b'node="node \\"a\\"\\]\\\\"' in message


def test_octet_counting_counts_bytes_not_characters() -> None:
    assert octet_counted("é".encode()) == b"2 \xc3\xa9"
