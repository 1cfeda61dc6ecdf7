"""Stored audit events as FHIR R4 AuditEvent resources following IHE Basic Audit Log Patterns (BALP).

An exchange that returned patients' data becomes one ``PatientRead``/``PatientQuery``
AuditEvent per patient (BALP: one event per patient in the result set); other
exchanges become the plain ``Read``/``Query``/``Create``/``Update``/``Delete``
pattern, or a generic RESTful event. Token, alert and reaction events use the
DICOM security event types. Agents: the third-party client (network: its IP
address) and the gateway node (the BALP Source/Destination roles are swapped
between Read and Query, as in the BALP FSH). The BALP ``entity[query]`` wants
the raw query; phigate never stores query values (they carry patient data), so
the query entity names the searched type only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from phigate.audit.chain import ChainedEvent

_BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_REST = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SOURCE = {"system": _DCM, "code": "110153", "display": "Source Role ID"}
_DESTINATION = {"system": _DCM, "code": "110152", "display": "Destination Role ID"}
_SECURITY_TYPES = {
    "security": {"system": _DCM, "code": "110114", "display": "User Authentication"},
    "alert": {"system": _DCM, "code": "110113", "display": "Security Alert"},
    "reaction": {"system": _DCM, "code": "110113", "display": "Security Alert"},
}
# interaction -> (BALP pattern, action, restful-interaction code)
_PATTERNS = {
    "read": ("Read", "R", "read"),
    "vread": ("Read", "R", "vread"),
    "search": ("Query", "E", "search-type"),
    "search-system": ("Query", "E", "search-system"),
    "search-compartment": ("Query", "E", "search-type"),
    "create": ("Create", "C", "create"),
    "update": ("Update", "U", "update"),
    "patch": ("Update", "U", "patch"),
    "delete": ("Delete", "D", "delete"),
    "history-instance": ("Read", "R", "history-instance"),
    "history-type": ("Query", "E", "history-type"),
    "capabilities": (None, "E", "capabilities"),
    "operation": (None, "E", "operation"),
}
_NOT_ID = re.compile(r"[^A-Za-z0-9\-.]")


def audit_events(stored: ChainedEvent) -> list[dict[str, Any]]:
    """The AuditEvent resources of one stored event (one per patient for patient data that left)."""
    event = stored.event
    if event["kind"] != "exchange":
        return [_security(stored)]
    patients = event.get("patients") or []
    if not patients:
        return [_exchange(stored, None, _resource_id(stored))]
    return [_exchange(stored, p, _resource_id(stored, i + 1)) for i, p in enumerate(patients)]


def _resource_id(stored: ChainedEvent, part: int = 0) -> str:
    base = _NOT_ID.sub("-", f"{stored.node}.{stored.seq}")[:56]
    return f"{base}.p{part}" if part else base


def _instant(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _outcome(event: dict[str, Any]) -> str:
    if event.get("outcome") == "ok" and 200 <= int(event.get("status") or 200) < 400:
        return "0"
    return "8" if int(event.get("status") or 0) >= 500 else "4"


def _client_agent(event: dict[str, Any], role: dict[str, str]) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"coding": [role]},
        "who": {
            "identifier": {"system": "urn:phigate:client", "value": event.get("client_id") or "anonymous"}
        },
        "requestor": True,
    }
    if event.get("vendor_id"):
        agent["name"] = f"vendor {event['vendor_id']}"
    if event.get("source_ip"):
        agent["network"] = {"address": event["source_ip"], "type": "2"}
    token_id = (event.get("rules") or {}).get("token_id")
    if isinstance(token_id, str):
        agent["policy"] = [f"urn:phigate:token:{token_id}"]
    return agent


def _server_agent(stored: ChainedEvent, role: dict[str, str]) -> dict[str, Any]:
    return {
        "type": {"coding": [role]},
        "who": {"display": f"phigate node {stored.node}"},
        "requestor": False,
        "network": {"address": stored.node, "type": "1"},
    }


def _common(stored: ChainedEvent, resource_id: str) -> dict[str, Any]:
    event = stored.event
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": resource_id,
        "recorded": _instant(event["recorded"]),
        "outcome": _outcome(event),
        "source": {"site": "phigate", "observer": {"display": f"phigate node {stored.node}"}},
    }
    description = event.get("reason") or (event.get("outcome") if event.get("outcome") != "ok" else None)
    if description:
        resource["outcomeDesc"] = str(description)
    return resource


def _exchange(stored: ChainedEvent, patient: str | None, resource_id: str) -> dict[str, Any]:
    event = stored.event
    pattern, action, code = _PATTERNS.get(event["action"], (None, "E", None))
    query = pattern == "Query"
    client_role, server_role = (_SOURCE, _DESTINATION) if query else (_DESTINATION, _SOURCE)
    resource = _common(stored, resource_id)
    if pattern is not None:
        name = f"Patient{pattern}" if patient is not None else pattern
        resource["meta"] = {"profile": [_BALP + name]}
    resource["type"] = _REST
    if code is not None:
        resource["subtype"] = [{"system": "http://hl7.org/fhir/restful-interaction", "code": code}]
    resource["action"] = action
    resource["agent"] = [_client_agent(event, client_role), _server_agent(stored, server_role)]
    resource["entity"] = _entities(event, patient, query)
    return resource


def _entities(event: dict[str, Any], patient: str | None, query: bool) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if event.get("request_id"):
        entities.append(
            {
                "what": {"identifier": {"value": event["request_id"]}},
                "type": {"system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
                         "code": "XrequestId"},
            }
        )  # fmt: skip
    system_object = {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"}
    if query and event.get("resource_type"):
        entities.append(
            {
                "type": system_object,
                "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
                "description": f"search of {event['resource_type']}",
            }
        )
    for resource_id in event.get("resource_ids") or []:
        reference = resource_id if "/" in resource_id else f"{event.get('resource_type')}/{resource_id}"
        entities.append(
            {"what": {"reference": reference}, "type": system_object,
             "role": {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"}}
        )  # fmt: skip
    if patient is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{patient}"},
                "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    return entities


def _security(stored: ChainedEvent) -> dict[str, Any]:
    event = stored.event
    resource = _common(stored, _resource_id(stored))
    resource["type"] = _SECURITY_TYPES.get(event["kind"], _SECURITY_TYPES["alert"])
    resource["subtype"] = [{"system": "urn:phigate:audit-action", "code": event["action"]}]
    resource["action"] = "E"
    resource["agent"] = [_client_agent(event, _SOURCE), _server_agent(stored, _DESTINATION)]
    if event.get("request_id"):
        resource["entity"] = _entities({"request_id": event["request_id"]}, None, False)
    return resource
