"""Search criteria compiled into predicates over a stored resource's search values.

Each criterion's values are read once per search (token systems split, dates
turned into ranges) so the per-resource test is a few set lookups and compares.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from phigate.demo.dates import checker
from phigate.demo.paths import reference_target
from phigate.demo.query import Criterion, date_operand
from phigate.demo.searchparams import SearchParam, fold, values_of
from phigate.demo.store import StoredVersion

Values = tuple[Any, ...]
Test = Callable[[Values], bool]
Predicate = Callable[[StoredVersion], bool]


def compile_criterion(criterion: Criterion) -> Predicate:
    """A predicate on one stored resource: does it match any value of ``criterion``?"""
    param = criterion.param
    if criterion.modifier == "missing":
        wanted_missing = criterion.values[0] == "true"
        return lambda stored: (not values_of(param, stored)) == wanted_missing
    test = _BUILDERS[param.kind](criterion)
    if criterion.modifier == "not":
        return lambda stored: not test(values_of(param, stored))
    return lambda stored: test(values_of(param, stored))


def token_parts(wanted: str) -> tuple[str | None, str | None]:
    """``(system, code)`` of a token value; None system means any, "" means none, None code means any."""
    parts = re.split(r"(?<!\\)\|", wanted, maxsplit=1)
    if len(parts) == 1:
        return None, wanted
    system, code = (part.replace("\\|", "|") for part in parts)
    return system, (code or None)


def _token(criterion: Criterion) -> Test:
    pairs: set[tuple[str | None, str]] = set()
    codes: set[str] = set()
    systems: set[str] = set()
    for wanted in criterion.values:
        system, code = token_parts(wanted)
        if system is None and code is not None:
            codes.add(code)
        elif code is None and system:
            systems.add(system)
        elif code is not None:
            pairs.add((system or None, code))
    return lambda values: any(
        pair in pairs or pair[1] in codes or pair[0] in systems for pair in values
    )


def reference_wanted(param: SearchParam, modifier: str | None, value: str) -> str | None:
    """``Type/id`` a reference search value names, or None for a bare id of no single known type."""
    if "/" in value:
        target = reference_target(value)
        return f"{target[0]}/{target[1]}" if target else value
    if modifier is not None:
        return f"{modifier}/{value}"
    return f"{param.targets[0]}/{value}" if len(param.targets) == 1 else None


def _reference(criterion: Criterion) -> Test:
    full: set[str] = set()
    bare: set[str] = set()
    for value in criterion.values:
        wanted = reference_wanted(criterion.param, criterion.modifier, value)
        if wanted is None:
            bare.add(value)
        else:
            full.add(wanted)
    return lambda values: any(v in full or v.rsplit("/", 1)[-1] in bare for v in values)


def _date(criterion: Criterion) -> Test:
    operands = [operand for operand in map(date_operand, criterion.values) if operand is not None]
    checks = [checker(prefix, wanted) for prefix, wanted in operands]
    if len(checks) == 1:
        check = checks[0]
        return lambda values: any(check(low, high) for low, high in values)
    return lambda values: any(check(low, high) for low, high in values for check in checks)


def _string(criterion: Criterion) -> Test:
    if criterion.modifier == "exact":
        exact = set(criterion.values)
        return lambda values: any(raw in exact for raw, _ in values)
    folded = tuple(fold(value) for value in criterion.values)
    if criterion.modifier == "contains":
        return lambda values: any(w in value for _, value in values for w in folded)
    return lambda values: any(value.startswith(folded) for _, value in values)


_BUILDERS: dict[str, Callable[[Criterion], Test]] = {
    "token": _token,
    "reference": _reference,
    "date": _date,
    "string": _string,
}
