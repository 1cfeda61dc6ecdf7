"""A contract's search constraints, checked again on each resource that leaves.

The upstream was asked for less (the constraints were ANDed into the query);
this is the second line: a resource read by id, or an upstream that ignored a
parameter, still cannot carry more than the contract allows. A constraint the
check cannot read (an element of an unexpected shape) fails: deny by default.

Token parameters reuse the scope post-check (:mod:`phigate.policy.checks`); date
parameters are compared as FHIR date ranges (FHIR R4 search, "date").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phigate.fhir.search import split_escaped, split_prefix
from phigate.policy.checks import check_resource
from phigate.policy.decisions import CheckResponse, TypeRule
from phigate.policy.elements import is_constrainable, values_at
from phigate.policy.scopes import Constraint
from phigate.shaping.dates import date_range, render_relative

# Date parameters by type, from the R4 SearchParameter expressions; "effective" covers effective[x].
DATE_PATHS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("Observation", "date"): ("effective",),
    ("DiagnosticReport", "date"): ("effective",),
    ("Encounter", "date"): ("period",),
    ("Condition", "onset-date"): ("onset",),
    ("Condition", "recorded-date"): ("recordedDate",),
    ("Immunization", "date"): ("occurrence",),
    ("Procedure", "date"): ("performed",),
    ("MedicationRequest", "authoredon"): ("authoredOn",),
    ("Claim", "created"): ("created",),
    ("AllergyIntolerance", "date"): ("recordedDate",),
    ("CarePlan", "date"): ("period",),
    ("Composition", "date"): ("date",),
    ("DocumentReference", "date"): ("date",),
    ("Coverage", "period"): ("period",),
}
_EVERY_TYPE_DATES = {"_lastUpdated": ("meta.lastUpdated",)}
DATE_PREFIXES = frozenset({"eq", "ge", "gt", "le", "lt"})


def date_paths(resource_type: str, name: str) -> tuple[str, ...]:
    return _EVERY_TYPE_DATES.get(name) or DATE_PATHS.get((resource_type, name), ())


def is_checkable(resource_type: str, name: str) -> bool:
    return bool(date_paths(resource_type, name)) or is_constrainable(resource_type, name)


@dataclass(frozen=True, slots=True)
class SearchConstraint:
    """``name=template`` of a contract; the template may hold ``{now-90d}``."""

    name: str
    template: str

    def render(self, now: float) -> str:
        return render_relative(self.template, now)

    def holds(self, resource: Mapping[str, Any], resource_type: str, now: float) -> bool:
        value = self.render(now)
        paths = date_paths(resource_type, self.name)
        if paths:
            return _date_holds(resource, paths, value)
        token = Constraint(self.name, tuple(split_escaped(value, ",")))
        check = CheckResponse(rules=(TypeRule(resource_type, ((token,),)),))
        return check_resource(resource, check).allowed


def _date_holds(resource: Mapping[str, Any], paths: tuple[str, ...], value: str) -> bool:
    ranges = [r for path in paths for r in _ranges(resource, path)]
    alternatives = split_escaped(value, ",")
    return any(_matches(found, alt) for found in ranges for alt in alternatives)


def _ranges(resource: Mapping[str, Any], path: str) -> list[tuple[float, float]]:
    head, _, rest = path.partition(".")
    choices = [
        key for key in resource if key == head or (key.startswith(head) and key[len(head) :][:1].isupper())
    ]
    found: list[tuple[float, float]] = []
    for key in choices:
        for value in values_at(resource, key + ("." + rest if rest else "")):
            span = _span(value)
            if span is not None:
                found.append(span)
    return found


def _span(value: Any) -> tuple[float, float] | None:
    if isinstance(value, str):
        return date_range(value)
    if isinstance(value, Mapping) and ("start" in value or "end" in value):  # a Period
        start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        if ("start" in value and start is None) or ("end" in value and end is None):
            return None
        return (start[0] if start else float("-inf"), end[1] if end else float("inf"))
    return None


def _matches(found: tuple[float, float], search: str) -> bool:
    prefix, text = split_prefix(search)
    wanted = date_range(text)
    if wanted is None:
        return False
    low, high = found
    if prefix in (None, "eq"):
        return low >= wanted[0] and high <= wanted[1]
    if prefix == "ge":
        return high > wanted[0]
    if prefix == "gt":
        return high > wanted[1]
    if prefix == "le":
        return low < wanted[1]
    if prefix == "lt":
        return low < wanted[0]
    return False
