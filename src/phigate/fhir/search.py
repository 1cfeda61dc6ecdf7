"""The FHIR R4 search-parameter grammar as typed values.

A query ``code:not=a,b&subject:Patient.name=x&_include=Observation:subject`` becomes
one :class:`SearchQuery`: a tuple of :class:`SearchParam` (AND-ed, in order; each
holds its comma-separated OR alternatives as :class:`SearchValue`) and the
``_include`` / ``_revinclude`` directives as :class:`Include`.

A value is kept as sent (after percent-decoding, FHIR escapes ``\\,`` ``\\$``
``\\|`` ``\\\\`` still in place), because only the caller knows the parameter's
type: :meth:`SearchValue.prefix`, :func:`split_token` and
:func:`split_escaped` interpret it on request. Parsing lives in
:mod:`phigate.fhir.query`; :meth:`SearchQuery.to_query` renders the inverse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phigate.fhir.urlencoding import encode_key, encode_value

ESCAPABLE = frozenset(",$|\\")
PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})

# Modifiers R4 defines for search parameters; a resource type is also a modifier
# on a reference parameter (``subject:Patient``).
MODIFIERS = frozenset(
    {"missing", "exact", "contains", "text", "not", "above", "below", "in", "not-in", "of-type",
     "identifier"}
)  # fmt: skip

# Parameters that shape the result rather than select resources.
RESULT_PARAMS = frozenset(
    {"_count", "_sort", "_summary", "_elements", "_total", "_contained", "_containedType",
     "_format", "_pretty", "_include", "_revinclude"}
)  # fmt: skip

_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_PREFIXED_START = frozenset("0123456789-+.")


def split_escaped(raw: str, sep: str) -> list[str]:
    """Split ``raw`` on each ``sep`` not escaped by a backslash; the parts keep their escapes.

    Raises ``ValueError`` on a backslash not followed by ``, $ | \\`` (values from
    the parser never do: it refuses them).
    """
    if "\\" not in raw:
        return raw.split(sep)
    parts: list[str] = []
    start = i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            if i + 1 == len(raw) or raw[i + 1] not in ESCAPABLE:
                raise ValueError("unbalanced escape")
            i += 2
            continue
        if ch == sep:
            parts.append(raw[start:i])
            start = i + 1
        i += 1
    parts.append(raw[start:])
    return parts


def unescape(raw: str) -> str:
    return _UNESCAPE.sub(r"\1", raw) if "\\" in raw else raw


def split_prefix(raw: str) -> tuple[str | None, str]:
    """``ge2020-01`` -> ``("ge", "2020-01")``; only for number, date and quantity parameters."""
    if len(raw) > 2 and raw[:2] in PREFIXES and raw[2] in _PREFIXED_START:
        return raw[:2], raw[2:]
    return None, raw


def split_token(raw: str) -> tuple[str | None, str]:
    """``system|code`` -> ``(system, code)``, unescaped.

    No bar gives ``(None, code)`` (any system); ``|code`` gives ``("", code)`` (no system).
    """
    parts = split_escaped(raw, "|")
    if len(parts) == 1:
        return None, unescape(parts[0])
    return unescape(parts[0]), unescape("|".join(parts[1:]))


@dataclass(frozen=True, slots=True)
class SearchValue:
    """One OR alternative, as sent: percent-decoded, FHIR escapes kept."""

    raw: str

    @property
    def text(self) -> str:
        """The value with FHIR escapes removed (for string-like parameters)."""
        return unescape(self.raw)

    @property
    def prefix(self) -> str | None:
        return split_prefix(self.raw)[0]

    @property
    def unprefixed(self) -> str:
        return split_prefix(self.raw)[1]

    def parts(self, sep: str) -> tuple[str, ...]:
        """Unescaped parts split on ``sep`` (``|`` for tokens and quantities, ``$`` for composites)."""
        return tuple(unescape(part) for part in split_escaped(self.raw, sep))


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One further step of a chain: ``.name`` or ``.name:Type`` (a modifier on the last link)."""

    name: str
    modifier: str | None = None

    def render(self) -> str:
        return self.name if self.modifier is None else f"{self.name}:{self.modifier}"


@dataclass(frozen=True, slots=True)
class HasLink:
    """``_has:Observation:patient``: resources of ``resource_type`` whose ``reference_param`` points here."""

    resource_type: str
    reference_param: str


@dataclass(frozen=True, slots=True)
class ReverseChain:
    """``_has:Observation:patient:code`` (links may nest: ``_has:A:x:_has:B:y:param``)."""

    links: tuple[HasLink, ...]
    param: str
    modifier: str | None = None

    @property
    def resource_types(self) -> tuple[str, ...]:
        return tuple(link.resource_type for link in self.links)

    def render(self) -> str:
        head = "".join(f"_has:{link.resource_type}:{link.reference_param}:" for link in self.links)
        return head + self.param + ("" if self.modifier is None else f":{self.modifier}")


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One ``key=value`` of a query. ``name`` is ``_has`` when ``has`` is set."""

    name: str
    values: tuple[SearchValue, ...]
    modifier: str | None = None
    chain: tuple[ChainLink, ...] = ()
    has: ReverseChain | None = None

    @property
    def is_chained(self) -> bool:
        return bool(self.chain)

    @property
    def is_result_param(self) -> bool:
        return self.name in RESULT_PARAMS

    @property
    def raw_values(self) -> tuple[str, ...]:
        return tuple(value.raw for value in self.values)

    @property
    def key(self) -> str:
        if self.has is not None:
            return self.has.render()
        key = self.name if self.modifier is None else f"{self.name}:{self.modifier}"
        return key + "".join("." + link.render() for link in self.chain)

    def to_query(self) -> str:
        value = ",".join(self.raw_values)
        return f"{encode_key(self.key)}={encode_value(value)}"


@dataclass(frozen=True, slots=True)
class Include:
    """``_include=Observation:subject:Patient``, ``_include:iterate=...`` or ``_include=*``."""

    source_type: str | None
    search_param: str
    target_type: str | None = None
    iterate: bool = False
    wildcard: bool = False

    def render(self) -> str:
        if self.source_type is None:
            return "*"
        target = "" if self.target_type is None else f":{self.target_type}"
        return f"{self.source_type}:{self.search_param}{target}"

    def to_query(self, name: str) -> str:
        key = f"{name}:iterate" if self.iterate else name
        return f"{key}={encode_value(self.render())}"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query string. :meth:`to_query` renders it so that parsing gives it back."""

    params: tuple[SearchParam, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()

    def named(self, name: str) -> tuple[SearchParam, ...]:
        return tuple(param for param in self.params if param.name == name)

    @property
    def criteria(self) -> tuple[SearchParam, ...]:
        """The parameters that select resources (not ``_count``, ``_sort``, ``_format``...)."""
        return tuple(param for param in self.params if not param.is_result_param)

    def to_query(self) -> str:
        pairs = [param.to_query() for param in self.params]
        pairs += [include.to_query("_include") for include in self.includes]
        pairs += [include.to_query("_revinclude") for include in self.revincludes]
        return "&".join(pairs)
