"""Audit events: what one exchange or one security action leaves in the trail.

An event holds identifiers and decisions, never clinical values, query values,
bodies or tokens: the patients whose data left are named by id only, the body by
its SHA-256. ``record()`` is the event's canonical form, the unit that is spooled,
stored, hash-chained and exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    exchange = "exchange"  # one FHIR request and the reply that was sent
    security = "security"  # token issued / refused / revoked, configuration or vendor change
    alert = "alert"  # a detector fired
    reaction = "reaction"  # the gateway (or an operator) suspended a client, revoked its tokens, undid it


@dataclass(frozen=True, slots=True)
class AuditEvent:
    kind: Kind
    action: str  # the FHIR interaction (read, search-type, ...) or the security action (token.issued, ...)
    recorded: float  # epoch seconds
    request_id: str = ""
    client_id: str | None = None
    vendor_id: str | None = None
    user: str | None = None  # fhirUser, when a person is behind the client
    source_ip: str = ""
    method: str = ""
    resource_type: str | None = None
    resource_ids: tuple[str, ...] = ()
    patients: tuple[str, ...] = ()  # whose data left in the reply that was sent
    status: int = 0
    outcome: str = "ok"  # "ok" or the error code that ended the exchange
    reason: str | None = None  # a safe reason (policy denial, refused token), never caller input
    purpose: tuple[str, ...] = ()  # purpose of use codes
    rules: dict[str, Any] = field(default_factory=dict)  # decisions and obligations applied (ex.facts)
    body_sha256: str | None = None
    bytes_sent: int = 0
    complete: bool = True  # False: the caller went away before the last byte

    def record(self) -> dict[str, Any]:
        """The canonical dict (JSON-safe, stable keys) that is spooled, chained and stored."""
        # Built by hand: dataclasses.asdict deep-copies every value, which costs more than the rest.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["kind"] = self.kind.value
        data["resource_ids"] = list(self.resource_ids)
        data["patients"] = list(self.patients)
        data["purpose"] = list(self.purpose)
        data["rules"] = dict(self.rules)
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> AuditEvent:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["kind"] = Kind(fields["kind"])
        for name in ("resource_ids", "patients", "purpose"):
            fields[name] = tuple(fields.get(name, ()))
        return cls(**fields)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "ok" and 200 <= self.status < 400
