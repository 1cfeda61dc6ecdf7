"""The demo EHR's CapabilityStatement, derived from the search parameters it really supports."""

from __future__ import annotations

from typing import Any

from phigate import __version__
from phigate.demo.compartment import PATIENT_LINKS
from phigate.demo.searchparams import SEARCH_PARAMS

RELEASE_DATE = "2026-01-01"
_INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "create", "search-type")
_RESULT_PARAMS = (
    ("_count", "number", "Page size (default 20, at most 200)"),
    ("_offset", "number", "Index of the first result of the page"),
    ("_sort", "string", "Sort keys: search parameter names, '-' for descending"),
    ("_summary", "token", "'count' returns the total only"),
    ("_elements", "string", "Top-level elements to return"),
)


def capability_statement(base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "id": "phigate-demo-ehr",
        "name": "PhigateDemoEhr",
        "title": "phigate demo EHR",
        "status": "active",
        "experimental": True,
        "date": RELEASE_DATE,
        "publisher": "phigate",
        "description": "An embedded FHIR R4 server over synthetic data, for trying the phigate gateway.",
        "kind": "instance",
        "software": {"name": "phigate demo EHR", "version": __version__},
        "implementation": {"description": "phigate demo EHR", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource(resource_type) for resource_type in SEARCH_PARAMS],
                "operation": [
                    {"name": "everything",
                     "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
                ],
                "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
            }
        ],
    }  # fmt: skip


def _resource(resource_type: str) -> dict[str, Any]:
    params = SEARCH_PARAMS[resource_type].values()
    references = [p.name for p in params if p.kind == "reference"]
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [{"code": code} for code in _INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": False,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": [f"{resource_type}:{name}" for name in references],
        "searchRevInclude": _revincludes(resource_type),
        "searchParam": [
            {"name": p.name, "type": p.kind} for p in params
        ] + [{"name": name, "type": kind, "documentation": doc} for name, kind, doc in _RESULT_PARAMS],
    }


def _revincludes(resource_type: str) -> list[str]:
    if resource_type != "Patient":
        return []
    return [f"{source}:{name}" for source in PATIENT_LINKS for name, p in SEARCH_PARAMS[source].items()
            if name == "patient" and p.kind == "reference"]  # fmt: skip
