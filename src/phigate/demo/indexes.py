"""Token and date indexes over the store, built when a search first needs them, rebuilt after writes.

``code=http://loinc.org|8867-4`` or ``date=ge2025-06`` over thousands of
Observations should not test every one. A token index maps each ``code`` and
``system|code`` to the resources carrying it, in store order; a date index keeps
the value ranges sorted by start and by end so a prefix becomes a slice. Either
gives candidates that the search still tests exactly. The store's ``generation``
says when an index is stale; the demo EHR writes rarely, so rebuilding is cheap.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from phigate.demo.dates import DateRange
from phigate.demo.searchparams import SearchParam, values_of
from phigate.demo.store import ResourceStore, StoredVersion

TokenIndex = dict[str, list[StoredVersion]]
_CACHE: WeakKeyDictionary[ResourceStore, tuple[int, dict[tuple[str, str, str], Any]]] = WeakKeyDictionary()


@dataclass(frozen=True)
class DateIndex:
    lows: list[float]
    by_low: list[StoredVersion]
    highs: list[float]
    by_high: list[StoredVersion]
    order: dict[int, int]

    def candidates(self, operands: list[tuple[str, DateRange]]) -> list[StoredVersion] | None:
        """A superset of the resources matching any operand, in store order; None if not narrowable."""
        found: dict[int, StoredVersion] = {}
        for prefix, (w_low, w_high) in operands:
            if prefix == "ne":
                return None
            for stored in self._slice(prefix, w_low, w_high):
                found[id(stored)] = stored
        return sorted(found.values(), key=lambda stored: self.order[id(stored)])

    def _slice(self, prefix: str, w_low: float, w_high: float) -> list[StoredVersion]:
        if prefix == "eq":
            return self.by_low[bisect_left(self.lows, w_low) : bisect_left(self.lows, w_high)]
        if prefix == "lt":
            return self.by_low[: bisect_left(self.lows, w_low)]
        if prefix in ("le", "ap"):
            return self.by_low[: bisect_left(self.lows, w_high)]
        if prefix == "sa":
            return self.by_low[bisect_left(self.lows, w_high) :]
        if prefix == "gt":
            return self.by_high[bisect_right(self.highs, w_high) :]
        if prefix == "ge":
            return self.by_high[bisect_right(self.highs, w_low) :]
        return self.by_high[: bisect_right(self.highs, w_low)]  # eb


def token_index(store: ResourceStore, resource_type: str, param: SearchParam) -> TokenIndex:
    index: TokenIndex = _cached(
        store, (resource_type, param.name, "token"), lambda: _tokens(store.current(resource_type), param)
    )
    return index


def date_index(store: ResourceStore, resource_type: str, param: SearchParam) -> DateIndex:
    index: DateIndex = _cached(
        store, (resource_type, param.name, "date"), lambda: _dates(store.current(resource_type), param)
    )
    return index


def _cached(store: ResourceStore, key: tuple[str, str, str], build: Callable[[], Any]) -> Any:
    generation, indexes = _CACHE.get(store, (-1, {}))
    if generation != store.generation:
        indexes = {}
        _CACHE[store] = (store.generation, indexes)
    if key not in indexes:
        indexes[key] = build()
    return indexes[key]


def _dates(resources: list[StoredVersion], param: SearchParam) -> DateIndex:
    entries = [(low, high, stored) for stored in resources for low, high in values_of(param, stored)]
    by_low = sorted(entries, key=lambda entry: entry[0])
    by_high = sorted(entries, key=lambda entry: entry[1])
    return DateIndex(
        [e[0] for e in by_low], [e[2] for e in by_low], [e[1] for e in by_high], [e[2] for e in by_high],
        {id(stored): n for n, stored in enumerate(resources)},
    )


def _tokens(resources: list[StoredVersion], param: SearchParam) -> TokenIndex:
    index: TokenIndex = {}
    for stored in resources:
        keys = {code for _, code in values_of(param, stored)}
        keys.update(f"{system}|{code}" for system, code in values_of(param, stored) if system)
        for key in keys:
            index.setdefault(key, []).append(stored)
    return index
