"""A search request's parameters, read into a :class:`SearchQuery` value.

FHIR's default is lenient: a parameter the server does not know is ignored and
reported back (``ignored``); with ``Prefer: handling=strict`` it is an error. A
known parameter with a value that cannot be read is always an error. Error
messages name the parameter, never the value (a value can be patient data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phigate.demo.dates import PREFIXES, parse_range
from phigate.demo.searchparams import SEARCH_PARAMS, SearchParam
from phigate.errors import RequestError

DEFAULT_COUNT = 20
MAX_COUNT = 200
_SAFE_NAME = re.compile(r"[A-Za-z0-9_\-:.]{1,64}")
_IGNORED_QUIETLY = {"_format", "_pretty", "_total"}
_MODIFIERS = {"token": {"not"}, "string": {"exact", "contains"}, "date": set(), "reference": set()}


@dataclass(frozen=True)
class Criterion:
    """One ``name[:modifier]=v1,v2`` parameter: a resource matches if it matches any value."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class Include:
    """``_include``/``_revinclude`` ``source:param[:target]``."""

    source: str
    param: SearchParam
    target: str | None


@dataclass(frozen=True)
class SearchQuery:
    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0
    sort: tuple[tuple[SearchParam, bool], ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    elements: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


def safe_name(name: str) -> str:
    return name if _SAFE_NAME.fullmatch(name) else "(unreadable name)"


def split_values(raw: str) -> tuple[str, ...]:
    """Split on commas not escaped as ``\\,``, then unescape."""
    parts = re.split(r"(?<!\\),", raw)
    return tuple(re.sub(r"\\([,|$\\])", r"\1", part) for part in parts)


def parse_query(resource_type: str, pairs: list[tuple[str, str]], *, strict: bool = False) -> SearchQuery:
    known = SEARCH_PARAMS[resource_type]
    fields: dict[str, object] = {}
    criteria: list[Criterion] = []
    ignored: list[str] = []
    for name, value in pairs:
        if name.startswith("_") and name not in known:
            if not _result_param(resource_type, name, value, fields):
                ignored.append(name)
            continue
        base, _, modifier = name.partition(":")
        if base not in known:
            ignored.append(name)
            continue
        criteria.append(_criterion(known[base], modifier or None, value))
    if strict and ignored:
        raise RequestError(f"Search parameter '{safe_name(ignored[0])}' is not supported.")
    if ("_summary", "count") in pairs:
        fields["count"] = 0  # whatever _count says: the total only
    return SearchQuery(resource_type, tuple(criteria), ignored=tuple(ignored), **fields)  # type: ignore[arg-type]


def _criterion(param: SearchParam, modifier: str | None, raw: str) -> Criterion:
    if modifier is not None and modifier != "missing" and not _modifier_allowed(param, modifier):
        raise RequestError(f"This modifier is not supported for search parameter '{param.name}'.")
    values = split_values(raw)
    if modifier == "missing" and raw not in ("true", "false"):
        raise RequestError(f"':missing' takes true or false (parameter '{param.name}').")
    if param.kind == "date" and modifier != "missing":
        for value in values:
            if date_operand(value) is None:
                raise RequestError(f"Search parameter '{param.name}' needs a FHIR date, optionally prefixed.")
    return Criterion(param, modifier, values)


def _modifier_allowed(param: SearchParam, modifier: str) -> bool:
    if param.kind == "reference":
        return modifier in SEARCH_PARAMS and (not param.targets or modifier in param.targets)
    return modifier in _MODIFIERS[param.kind]


def date_operand(value: str) -> tuple[str, tuple[float, float]] | None:
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    found = parse_range(value[2:] if value[:2] in PREFIXES else value)
    return (prefix, found) if found is not None else None


def _result_param(resource_type: str, name: str, value: str, fields: dict[str, object]) -> bool:
    """Read a result parameter into ``fields``; False if it is not one this server understands."""
    if name == "_count":
        fields["count"] = min(_non_negative(name, value), MAX_COUNT)
    elif name == "_offset":
        fields["offset"] = _non_negative(name, value)
    elif name == "_summary" and value in ("count", "false"):
        pass  # applied after all parameters are read
    elif name == "_sort":
        fields["sort"] = _sort(resource_type, value)
    elif name in ("_include", "_revinclude"):
        key = "includes" if name == "_include" else "revincludes"
        existing = fields.get(key, ())
        fields[key] = (*existing, *_includes(resource_type, name, value))  # type: ignore[misc]
    elif name == "_elements":
        fields["elements"] = tuple(e.strip() for e in value.split(",") if e.strip())
    else:
        return name in _IGNORED_QUIETLY
    return True


def _non_negative(name: str, value: str) -> int:
    if not value.isdigit():
        raise RequestError(f"Search parameter '{name}' needs a whole number.")
    return int(value)


def _sort(resource_type: str, value: str) -> tuple[tuple[SearchParam, bool], ...]:
    known = SEARCH_PARAMS[resource_type]
    keys = []
    for item in value.split(","):
        descending = item.startswith("-")
        name = item.removeprefix("-")
        if name not in known:
            raise RequestError("A _sort parameter names a search parameter this type does not have.")
        keys.append((known[name], descending))
    return tuple(keys)


def _includes(resource_type: str, name: str, value: str) -> list[Include]:
    source, _, rest = value.partition(":")
    param_name, _, target = rest.partition(":")
    if name == "_include" and source != resource_type:
        return []
    params = SEARCH_PARAMS.get(source, {})
    chosen = [p for p in params.values() if p.kind == "reference"] if param_name == "*" else (
        [params[param_name]] if param_name in params and params[param_name].kind == "reference" else [])
    if not chosen:
        raise RequestError(f"{name} must name a reference search parameter of a supported type.")
    return [Include(source, param, target or None) for param in chosen]
