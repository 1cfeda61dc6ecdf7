"""Running a :class:`SearchQuery` over the store: match, sort, page, include.

Candidates come from the narrowest index available (a patient's compartment when
the query names one patient, else every resource of the type), then each criterion
filters them; criteria are ANDed, the values of one criterion ORed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from phigate.demo.compartment import PATIENT_LINKS
from phigate.demo.indexes import date_index, token_index
from phigate.demo.matching import compile_criterion, reference_wanted, token_parts
from phigate.demo.query import Criterion, Include, SearchQuery, date_operand
from phigate.demo.searchparams import SearchParam, values_of
from phigate.demo.store import ResourceStore, StoredVersion


@dataclass(frozen=True)
class SearchResult:
    total: int
    page: list[StoredVersion]
    included: list[StoredVersion]


def run_search(store: ResourceStore, query: SearchQuery, patient: str | None = None) -> SearchResult:
    """Search; ``patient`` restricts to that patient's compartment (``GET Patient/x/Type``)."""
    predicates = [compile_criterion(criterion) for criterion in query.criteria]
    candidates = _candidates(store, query, patient)
    if len(predicates) == 1:
        test = predicates[0]
        found = [stored for stored in candidates if test(stored)]
    else:
        found = [stored for stored in candidates if all(test(stored) for test in predicates)]
    found = _sorted(found, query.sort)
    page = found[query.offset : query.offset + query.count]
    return SearchResult(len(found), page, _included(store, query, page))


def _candidates(store: ResourceStore, query: SearchQuery, patient: str | None) -> list[StoredVersion]:
    """The smallest superset of the matches that an index gives, in store order."""
    if patient is not None:
        return store.in_compartment(query.resource_type, patient)
    best = None
    for criterion in query.criteria:
        narrowed = _narrowed(store, query.resource_type, criterion)
        if narrowed is not None and (best is None or len(narrowed) < len(best)):
            best = narrowed
    return best if best is not None else store.current(query.resource_type)


def _narrowed(store: ResourceStore, resource_type: str, criterion: Criterion) -> list[StoredVersion] | None:
    if criterion.modifier not in (None, "Patient"):
        return None
    if criterion.param.name == "_id":
        found = (store.read(resource_type, value) for value in dict.fromkeys(criterion.values))
        return [stored for stored in found if stored is not None and not stored.deleted]
    patient = _patient_of(resource_type, criterion)
    if patient is not None:
        return store.in_compartment(resource_type, patient)
    if criterion.param.kind == "token" and criterion.modifier is None:
        return _by_token(store, resource_type, criterion)
    if criterion.param.kind == "date" and criterion.modifier is None:
        operands = [operand for operand in map(date_operand, criterion.values) if operand is not None]
        return date_index(store, resource_type, criterion.param).candidates(operands)
    return None


def _by_token(store: ResourceStore, resource_type: str, criterion: Criterion) -> list[StoredVersion] | None:
    keys = []
    for value in criterion.values:
        system, code = token_parts(value)
        if code is None or system == "":
            return None  # "system|" and "|code" are not indexed
        keys.append(code if system is None else f"{system}|{code}")
    index = token_index(store, resource_type, criterion.param)
    if len(keys) == 1:
        return index.get(keys[0], [])
    wanted = {id(stored) for key in keys for stored in index.get(key, [])}
    return [stored for stored in store.current(resource_type) if id(stored) in wanted]


def _patient_of(resource_type: str, criterion: Criterion) -> str | None:
    """The one patient a reference criterion pins the search to, if its path defines the compartment."""
    param = criterion.param
    links = PATIENT_LINKS.get(resource_type, ())
    if param.kind != "reference" or len(criterion.values) != 1 or not set(param.paths) <= set(links):
        return None
    wanted = reference_wanted(param, criterion.modifier, criterion.values[0])
    if wanted is None or not wanted.startswith("Patient/"):
        return None
    return wanted.removeprefix("Patient/")


def _sorted(found: list[StoredVersion], sort: tuple[tuple[SearchParam, bool], ...]) -> list[StoredVersion]:
    """Sort by each key in turn (stable), resources without a value last whatever the direction."""
    for param, descending in reversed(sort):
        keyed = [(_sort_key(param, stored), stored) for stored in found]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=lambda pair: pair[0], reverse=descending)
        found = [stored for _, stored in present] + [stored for key, stored in keyed if key is None]
    return found


def _sort_key(param: SearchParam, stored: StoredVersion) -> Any:
    values = values_of(param, stored)
    if not values:
        return None
    if param.kind == "date":
        return min(low for low, _ in values)
    if param.kind == "token":
        return min(code for _, code in values)
    if param.kind == "string":
        return min(folded for _, folded in values)
    return min(values)


def _included(store: ResourceStore, query: SearchQuery, page: list[StoredVersion]) -> list[StoredVersion]:
    seen = {(stored.type, stored.id) for stored in page}
    included: list[StoredVersion] = []

    def add(candidates: Iterable[StoredVersion | None]) -> None:
        for stored in candidates:
            if stored is not None and not stored.deleted and (stored.type, stored.id) not in seen:
                seen.add((stored.type, stored.id))
                included.append(stored)

    for include in query.includes:
        for stored in page:
            add(_referenced(store, include, stored))
    for include in query.revincludes:
        add(_referring(store, include, page))
    return included


def _referenced(store: ResourceStore, include: Include, stored: StoredVersion) -> list[StoredVersion | None]:
    targets = (value.split("/", 1) for value in values_of(include.param, stored))
    return [store.read(t, i) for t, i in targets if include.target is None or t == include.target]


def _referring(store: ResourceStore, include: Include, page: list[StoredVersion]) -> list[StoredVersion]:
    keys = {f"{stored.type}/{stored.id}" for stored in page}
    links = PATIENT_LINKS.get(include.source, ())
    if page and all(s.type == "Patient" for s in page) and set(include.param.paths) <= set(links):
        candidates = [c for s in page for c in store.in_compartment(include.source, s.id)]
    else:
        candidates = store.current(include.source)
    return [c for c in candidates if keys.intersection(values_of(include.param, c))]
