"""The demo hospital's Organizations (hospital, laboratory, payors) and Practitioners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from phigate.demo.elements import NPI, concept, identifier, meta
from phigate.demo.vocabulary import PAYORS, PRACTITIONERS

HOSPITAL = "Organization/org-hospital"
LABORATORY = "Organization/org-lab"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
_ADDRESS = {"use": "work", "line": ["100 Hospital Drive"], "city": "Springfield", "state": "IL",
            "postalCode": "62702", "country": "US"}  # fmt: skip


def organizations(updated: datetime) -> list[dict[str, Any]]:
    result = [
        _organization("org-hospital", "Demo General Hospital", "prov", "Healthcare Provider", "1609876543",
                      updated),
        _organization("org-lab", "Demo Reference Laboratory", "prov", "Healthcare Provider", "1518765432",
                      updated),
    ]  # fmt: skip
    for payor_id, name, prefix, _plan in PAYORS:
        payor = _organization(payor_id, name, "pay", "Payer", None, updated)
        payor["alias"] = [prefix]
        result.append(payor)
    return result


def _organization(
    org_id: str, name: str, type_code: str, type_display: str, npi: str | None, updated: datetime
) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Organization", "id": org_id, "meta": meta(updated)}
    if npi is not None:
        resource["identifier"] = [identifier(NPI, npi)]
    resource |= {
        "active": True,
        "type": [concept(ORGANIZATION_TYPE, type_code, type_display)],
        "name": name,
        "telecom": [{"system": "phone", "value": f"(217) 555-01{len(org_id) % 90 + 10}", "use": "work"}],
        "address": [_ADDRESS],
    }
    return resource


def practitioner_ids() -> tuple[str, ...]:
    return tuple(f"Practitioner/prac-{n:02d}" for n in range(1, len(PRACTITIONERS) + 1))


def practitioners(updated: datetime) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Practitioner",
            "id": f"prac-{n:02d}",
            "meta": meta(updated),
            "identifier": [identifier(NPI, f"19{n:02d}{(n * 7919) % 1000000:06d}")],
            "active": True,
            "name": [{"use": "official", "family": family, "given": [given], "prefix": ["Dr."]}],
            "telecom": [{"system": "phone", "value": f"(217) 555-01{n + 50:02d}", "use": "work"}],
            "gender": gender,
            "qualification": [
                {
                    "code": concept(
                        "http://terminology.hl7.org/CodeSystem/v2-0360", "MD", "Doctor of Medicine",
                        text=f"Doctor of Medicine, {specialty}",
                    )
                }
            ],
        }
        for n, (given, family, gender, specialty) in enumerate(PRACTITIONERS, start=1)
    ]
