"""Parse a FHIR query string strictly into a :class:`~phigate.fhir.search.SearchQuery`.

Every refusal raises :class:`~phigate.errors.RequestError` whose message names
the parameter (only once its name is known to be well formed) and never the
value, which may hold patient data.

Pairs are split on ``&``; an empty pair (``a=1&&b=2``, a trailing ``&``) is
skipped; a pair without ``=`` has an empty value. A repeated parameter stays a
separate, AND-ed entry in order, except the result parameters that may appear
only once (a second ``_count`` could otherwise slip past a check of the first).
"""

from __future__ import annotations

import re

from phigate.errors import RequestError
from phigate.fhir.resources import RESOURCE_TYPES
from phigate.fhir.search import (
    MODIFIERS,
    ChainLink,
    HasLink,
    Include,
    ReverseChain,
    SearchParam,
    SearchQuery,
    SearchValue,
    split_escaped,
)
from phigate.fhir.urlencoding import DecodeError, percent_decode

MAX_QUERY_CHARS = 8192
MAX_PARAMS = 100
MAX_KEY_CHARS = 200

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.:]*")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_MODIFIER_RE = re.compile(r"[A-Za-z][A-Za-z\-]*")
_COUNT_RE = re.compile(r"[0-9]{1,9}")
_SORT_RE = re.compile(r"-?[A-Za-z_][A-Za-z0-9_\-.:]*")
_ELEMENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")

SINGLETONS = frozenset({"_count", "_sort", "_summary", "_elements", "_total", "_contained",
                        "_containedType", "_format"})  # fmt: skip
_CHOICES = {
    "_summary": frozenset({"true", "false", "text", "data", "count"}),
    "_total": frozenset({"none", "estimate", "accurate"}),
    "_contained": frozenset({"true", "false", "both"}),
    "_containedType": frozenset({"container", "contained"}),
}
_INCLUDE_NAMES = frozenset({"_include", "_revinclude"})


def parse_query(query: str, *, form: bool = False) -> SearchQuery:
    """Parse ``query`` (without ``?``); ``form=True`` reads ``+`` as a space (form bodies only)."""
    if len(query) > MAX_QUERY_CHARS:
        raise RequestError("The query string is too long.")
    pairs = [pair for pair in query.split("&") if pair]
    if len(pairs) > MAX_PARAMS:
        raise RequestError(f"The query has more than {MAX_PARAMS} parameters.")
    params: list[SearchParam] = []
    includes: dict[str, list[Include]] = {"_include": [], "_revinclude": []}
    seen: set[str] = set()
    for pair in pairs:
        key, value = _decode_pair(pair, form)
        base = _base_name(key)
        if base in _INCLUDE_NAMES:
            includes[base].append(_parse_include(key, base, value))
            continue
        param = _parse_param(key, base, value)
        if param.name in SINGLETONS:
            if param.name in seen:
                raise RequestError(f"The parameter '{param.name}' may appear only once.")
            seen.add(param.name)
        params.append(param)
    return SearchQuery(tuple(params), tuple(includes["_include"]), tuple(includes["_revinclude"]))


def _decode_pair(pair: str, form: bool) -> tuple[str, str]:
    raw_key, _, raw_value = pair.partition("=")
    try:
        key = percent_decode(raw_key, form=form)
    except DecodeError:
        raise RequestError("A search parameter name is not validly encoded.") from None
    if not key:
        raise RequestError("A search parameter has an empty name.")
    if len(key) > MAX_KEY_CHARS or not KEY_RE.fullmatch(key):
        raise RequestError("A search parameter name is not valid.")
    try:
        value = percent_decode(raw_value, form=form)
    except DecodeError:
        raise RequestError(f"The value of '{_base_name(key)}' is not validly encoded.") from None
    return key, value


def _base_name(key: str) -> str:
    """The leading name of a key, safe to show: it matches :data:`NAME_RE` or is empty."""
    match = NAME_RE.match(key)
    return match.group(0) if match else ""


def _parse_param(key: str, base: str, value: str) -> SearchParam:
    try:
        alternatives = split_escaped(value, ",")
    except ValueError:
        raise RequestError(f"The value of '{base}' has an unbalanced escape.") from None
    values = tuple(SearchValue(raw) for raw in alternatives)
    if base == "_has":
        return SearchParam("_has", values, has=_parse_has(key))
    name, modifier, chain = _parse_key(key, base)
    param = SearchParam(name, values, modifier, chain)
    _check_special(param)
    return param


def _parse_key(key: str, base: str) -> tuple[str, str | None, tuple[ChainLink, ...]]:
    segments = [_parse_segment(segment, base) for segment in key.split(".")]
    last = len(segments) - 1
    for index, link in enumerate(segments):
        if link.modifier is not None:
            _check_modifier(link.modifier, base, final=index == last)
    first = segments[0]
    return first.name, first.modifier, tuple(segments[1:])


def _parse_segment(segment: str, base: str) -> ChainLink:
    name, colon, modifier = segment.partition(":")
    if not NAME_RE.fullmatch(name):
        raise RequestError(f"The parameter '{base}' has a malformed name or chain.")
    if not colon:
        return ChainLink(name)
    if not _MODIFIER_RE.fullmatch(modifier):
        raise RequestError(f"The parameter '{base}' has a malformed modifier.")
    return ChainLink(name, modifier)


def _check_modifier(modifier: str, base: str, *, final: bool) -> None:
    if modifier in RESOURCE_TYPES:
        return
    if modifier in MODIFIERS and final:
        return
    if modifier in MODIFIERS:
        raise RequestError(f"The parameter '{base}' has a modifier before a chain; only a type may be.")
    raise RequestError(f"The parameter '{base}' has an unknown modifier.")


def _parse_has(key: str) -> ReverseChain:
    if "." in key:
        raise RequestError("The parameter '_has' does not support chains.")
    parts = key.split(":")
    links: list[HasLink] = []
    index = 0
    while index < len(parts) and parts[index] == "_has":
        if index + 3 > len(parts):
            raise RequestError("The parameter '_has' needs the form _has:Type:reference:parameter.")
        links.append(HasLink(_has_type(parts[index + 1]), _has_name(parts[index + 2])))
        index += 3
    rest = parts[index:]
    if not links or not 1 <= len(rest) <= 2:
        raise RequestError("The parameter '_has' needs the form _has:Type:reference:parameter.")
    modifier = rest[1] if len(rest) == 2 else None
    if modifier is not None:
        _check_modifier(modifier, "_has", final=True)
    return ReverseChain(tuple(links), _has_name(rest[0]), modifier)


def _has_type(name: str) -> str:
    if name not in RESOURCE_TYPES:
        raise RequestError("The parameter '_has' names an unknown resource type.")
    return name


def _has_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name == "_has":
        raise RequestError("The parameter '_has' has a malformed parameter name.")
    return name


def _parse_include(key: str, base: str, value: str) -> Include:
    iterate = _include_iterate(key, base)
    if value == "*":
        return Include(None, "*", None, iterate, wildcard=True)
    parts = value.split(":")
    if not 2 <= len(parts) <= 3:
        raise RequestError(f"The parameter '{base}' needs the form Type:parameter[:targetType].")
    source, search_param = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if source not in RESOURCE_TYPES or (target is not None and target not in RESOURCE_TYPES):
        raise RequestError(f"The parameter '{base}' names an unknown resource type.")
    if search_param != "*" and not NAME_RE.fullmatch(search_param):
        raise RequestError(f"The parameter '{base}' has a malformed search parameter name.")
    return Include(source, search_param, target, iterate, wildcard=search_param == "*")


def _include_iterate(key: str, base: str) -> bool:
    if key == base:
        return False
    # ``recurse`` is the STU3 spelling that R4 servers still accept; it means iterate.
    if key in (f"{base}:iterate", f"{base}:recurse"):
        return True
    raise RequestError(f"The parameter '{base}' accepts only the modifier 'iterate'.")


def _check_special(param: SearchParam) -> None:
    name = param.name
    if name in SINGLETONS or name == "_type":
        if param.modifier is not None or param.chain:
            raise RequestError(f"The parameter '{name}' takes no modifier or chain.")
        _check_special_values(name, param.raw_values)


def _check_special_values(name: str, raws: tuple[str, ...]) -> None:
    if name in SINGLETONS and name not in ("_sort", "_elements") and len(raws) != 1:
        raise RequestError(f"The parameter '{name}' takes exactly one value.")
    if name == "_count" and not _COUNT_RE.fullmatch(raws[0]):
        raise RequestError("The parameter '_count' must be a non-negative integer.")
    if name in _CHOICES and raws[0] not in _CHOICES[name]:
        raise RequestError(f"The parameter '{name}' has a value that is not allowed.")
    if name == "_sort" and not all(_SORT_RE.fullmatch(raw) for raw in raws):
        raise RequestError("The parameter '_sort' names a malformed sort key.")
    if name == "_elements" and not all(_ELEMENT_RE.fullmatch(raw) for raw in raws):
        raise RequestError("The parameter '_elements' names a malformed element.")
    if name == "_type" and not all(raw in RESOURCE_TYPES for raw in raws):
        raise RequestError("The parameter '_type' names an unknown resource type.")
