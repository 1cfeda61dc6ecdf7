"""What a detector reports: an alert value, with the key that deduplicates it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Observed(Protocol):
    """What the detectors read of an audit event (``phigate.audit.events.AuditEvent`` fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def recorded(self) -> float: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def vendor_id(self) -> str | None: ...
    @property
    def source_ip(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def patients(self) -> tuple[str, ...]: ...
    @property
    def resource_ids(self) -> tuple[str, ...]: ...
    @property
    def rules(self) -> Mapping[str, Any]: ...


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    detector: str
    severity: Severity
    subject: str  # the client id, or "ip:<address>" before a client is known
    explanation: str  # names the threshold crossed; no patient data, no request values
    at: float
    client_id: str | None = None
    vendor_id: str | None = None

    @property
    def dedup_key(self) -> str:
        return f"{self.detector}:{self.subject}"
