"""The search parameters the demo EHR supports, per resource type (names and paths from FHIR R4).

Each parameter names the element paths it reads and its kind; :func:`values_of`
turns a stored resource into the comparable values of one parameter and caches
them on the stored version.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from phigate.demo.dates import DateRange, parse_range, period_range
from phigate.demo.paths import reference_target, values_at
from phigate.demo.store import StoredVersion

Kind = Literal["token", "reference", "date", "string"]


@dataclass(frozen=True)
class SearchParam:
    name: str
    kind: Kind
    paths: tuple[str, ...]
    targets: tuple[str, ...] = ()
    where: Callable[[Any], bool] | None = None


def _p(name: str, kind: Kind, *paths: str, targets: tuple[str, ...] = (),
       where: Callable[[Any], bool] | None = None) -> SearchParam:  # fmt: skip
    return SearchParam(name, kind, paths, targets, where)


def _telecom(system: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and value.get("system") == system


PATIENT = ("Patient",)
CLINICAL_COMMON = (
    _p("patient", "reference", "subject", targets=PATIENT),
    _p("subject", "reference", "subject"),
    _p("encounter", "reference", "encounter", targets=("Encounter",)),
)
_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        _p("identifier", "token", "identifier"), _p("name", "string", "name"),
        _p("family", "string", "name.family"), _p("given", "string", "name.given"),
        _p("birthdate", "date", "birthDate"), _p("gender", "token", "gender"),
        _p("active", "token", "active"), _p("address", "string", "address"),
        _p("address-city", "string", "address.city"), _p("address-state", "string", "address.state"),
        _p("address-postalcode", "string", "address.postalCode"),
        _p("telecom", "token", "telecom"), _p("phone", "token", "telecom", where=_telecom("phone")),
        _p("email", "token", "telecom", where=_telecom("email")),
        _p("death-date", "date", "deceasedDateTime"),
        _p("general-practitioner", "reference", "generalPractitioner"),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
    ),
    "Practitioner": (
        _p("identifier", "token", "identifier"), _p("name", "string", "name"),
        _p("family", "string", "name.family"), _p("given", "string", "name.given"),
        _p("gender", "token", "gender"), _p("active", "token", "active"),
    ),
    "Organization": (
        _p("identifier", "token", "identifier"), _p("name", "string", "name", "alias"),
        _p("type", "token", "type"), _p("active", "token", "active"),
    ),
    "Encounter": (
        *CLINICAL_COMMON[:2], _p("date", "date", "period"), _p("status", "token", "status"),
        _p("class", "token", "class"), _p("type", "token", "type"),
        _p("practitioner", "reference", "participant.individual", targets=("Practitioner",)),
        _p("participant", "reference", "participant.individual"),
        _p("service-provider", "reference", "serviceProvider", targets=("Organization",)),
    ),
    "Condition": (
        *CLINICAL_COMMON, _p("code", "token", "code"), _p("category", "token", "category"),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("verification-status", "token", "verificationStatus"),
        _p("onset-date", "date", "onsetDateTime", "onsetPeriod"), _p("recorded-date", "date", "recordedDate"),
        _p("abatement-date", "date", "abatementDateTime", "abatementPeriod"),
    ),
    "MedicationRequest": (
        *CLINICAL_COMMON, _p("code", "token", "medicationCodeableConcept"), _p("status", "token", "status"),
        _p("intent", "token", "intent"), _p("authoredon", "date", "authoredOn"),
        _p("requester", "reference", "requester"),
    ),
    "Observation": (
        *CLINICAL_COMMON, _p("code", "token", "code"), _p("category", "token", "category"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
        _p("status", "token", "status"), _p("component-code", "token", "component.code"),
        _p("combo-code", "token", "code", "component.code"), _p("performer", "reference", "performer"),
    ),
    "DiagnosticReport": (
        *CLINICAL_COMMON, _p("code", "token", "code"), _p("category", "token", "category"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod"), _p("issued", "date", "issued"),
        _p("status", "token", "status"), _p("result", "reference", "result", targets=("Observation",)),
        _p("performer", "reference", "performer"),
    ),
    "Immunization": (
        _p("patient", "reference", "patient", targets=PATIENT), _p("date", "date", "occurrenceDateTime"),
        _p("status", "token", "status"), _p("vaccine-code", "token", "vaccineCode"),
        _p("lot-number", "string", "lotNumber"), _p("performer", "reference", "performer.actor"),
    ),
    "Coverage": (
        _p("patient", "reference", "beneficiary", targets=PATIENT),
        _p("beneficiary", "reference", "beneficiary"),
        _p("subscriber", "reference", "subscriber"), _p("policy-holder", "reference", "policyHolder"),
        _p("payor", "reference", "payor"), _p("status", "token", "status"), _p("type", "token", "type"),
        _p("identifier", "token", "identifier"),
    ),
    "Claim": (
        _p("patient", "reference", "patient", targets=PATIENT), _p("provider", "reference", "provider"),
        _p("insurer", "reference", "insurer", targets=("Organization",)), _p("created", "date", "created"),
        _p("status", "token", "status"), _p("use", "token", "use"),
        _p("encounter", "reference", "item.encounter", targets=("Encounter",)),
        _p("identifier", "token", "identifier"),
    ),
}  # fmt: skip
_COMMON = (_p("_id", "token", "id"), _p("_lastUpdated", "date", "meta.lastUpdated"))

SEARCH_PARAMS: dict[str, dict[str, SearchParam]] = {
    resource_type: {param.name: param for param in (*_COMMON, *params)}
    for resource_type, params in _PARAMS.items()
}


def values_of(param: SearchParam, stored: StoredVersion) -> tuple[Any, ...]:
    """The comparable values of ``param`` in ``stored`` (empty when the element is absent)."""
    cached = stored.search_cache.get(param.name)
    if cached is None:
        leaves = [leaf for path in param.paths for leaf in values_at(stored.resource or {}, path)]
        if param.where is not None:
            leaves = [leaf for leaf in leaves if param.where(leaf)]
        cached = tuple(value for leaf in leaves for value in _EXTRACT[param.kind](leaf))
        stored.search_cache[param.name] = cached
    return cached


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a string, for FHIR string search."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _tokens(leaf: Any) -> list[tuple[str | None, str]]:
    if isinstance(leaf, bool):
        return [(None, "true" if leaf else "false")]
    if isinstance(leaf, str):
        return [(None, leaf)]
    if not isinstance(leaf, dict):
        return []
    if "coding" in leaf:
        return [t for coding in leaf["coding"] for t in _tokens(coding)]
    key = "code" if "code" in leaf else "value"
    value = leaf.get(key)
    return [(leaf.get("system"), value)] if isinstance(value, str) else []


def _references(leaf: Any) -> list[str]:
    if isinstance(leaf, dict) and isinstance(leaf.get("reference"), str):
        target = reference_target(leaf["reference"])
        return [f"{target[0]}/{target[1]}"] if target else []
    return []


def _dates(leaf: Any) -> list[DateRange]:
    if isinstance(leaf, str):
        found = parse_range(leaf)
    else:
        found = period_range(leaf) if isinstance(leaf, dict) else None
    return [found] if found is not None else []


_NAME_PARTS = ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
               "postalCode", "country")  # fmt: skip


def _strings(leaf: Any) -> list[tuple[str, str]]:
    """``(raw, folded)`` pairs: raw for ``:exact``, folded for the default and ``:contains``."""
    if isinstance(leaf, str):
        return [(leaf, fold(leaf))]
    if not isinstance(leaf, dict):
        return []
    parts = [v for key in _NAME_PARTS for v in _as_list(leaf.get(key)) if isinstance(v, str)]
    return [(part, fold(part)) for part in parts]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_EXTRACT: dict[str, Callable[[Any], list[Any]]] = {
    "token": _tokens,
    "reference": _references,
    "date": _dates,
    "string": _strings,
}
