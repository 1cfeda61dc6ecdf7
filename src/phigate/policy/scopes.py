"""SMART on FHIR scopes (App Launch 2.x, with the 1.0 forms) as values.

Clinical scopes are ``(patient|user|system)/(Type|*).<permissions>[?query]``:

- v2 permissions are a non-empty subset of ``cruds`` written in that order
  (``r`` read/vread, ``s`` search, ``c`` create, ``u`` update/patch, ``d`` delete);
- v1 ``read`` means ``rs``, ``write`` means ``cud`` and ``*`` means ``cruds``; a
  v1 scope is marked ``version=1`` and is never wider than those letters;
- the query (v2 only) constrains the scope to resources matching every
  parameter, e.g. ``patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory``.
  It is parsed with the gateway's own FHIR query grammar, so the same escaping
  rules apply. Only token parameters the gateway can also verify on a returned
  resource are accepted (:mod:`phigate.policy.elements`); a constraint needs a
  named resource type and a parameter may appear once (``a,b`` for either).

Non-clinical scopes are the SMART names in :data:`NAMED_SCOPES`. Anything else
raises :class:`InvalidScope`: a scope is never dropped silently.

:meth:`ScopeSet.within` is the grant rule: each requested scope intersected with
each registered scope, so a granted scope is never wider than what was asked or
what the client is registered for. A request for ``system/*.rs`` by a client
registered for ``system/Observation.rs`` is granted ``system/Observation.rs``:
SMART lets a server grant fewer scopes than requested, and the token's ``scope``
claim tells the client what it got.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from phigate.errors import RequestError
from phigate.fhir.query import parse_query
from phigate.fhir.resources import RESOURCE_TYPES
from phigate.fhir.search import SearchParam, split_escaped
from phigate.fhir.urlencoding import encode_value
from phigate.policy.elements import is_constrainable

PERMISSIONS = "cruds"
NAMED_SCOPES = frozenset(
    {"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
     "offline_access", "online_access"}
)  # fmt: skip
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V1_NAMES = {letters: name for name, letters in V1_PERMISSIONS.items()}

MAX_SCOPE_CHARS = 512
MAX_SCOPES = 100
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_CLINICAL_RE = re.compile(r"([A-Za-z]+)/([^.?]*)\.([^?]*)(?:\?(.*))?", re.DOTALL)


class InvalidScope(RequestError):
    """A scope is unknown or malformed; the message names the scope text and what is wrong."""

    message = "A requested scope is not valid."
    oauth_error = "invalid_scope"


class Context(StrEnum):
    PATIENT = "patient"
    USER = "user"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True, order=True)
class Constraint:
    """``name=a,b``: the resource must match one of ``values`` (token values, FHIR escapes kept)."""

    name: str
    values: tuple[str, ...]

    @property
    def value(self) -> str:
        return ",".join(self.values)

    def within(self, other: Constraint) -> bool:
        """True when every resource matching ``self`` matches ``other`` (same parameter, fewer values)."""
        return self.name == other.name and set(self.values) <= set(other.values)

    def render(self) -> str:
        return f"{self.name}={encode_value(self.value)}"


@dataclass(frozen=True, slots=True, order=True)
class ClinicalScope:
    context: Context
    resource_type: str  # a resource type or "*"
    permissions: str  # a non-empty subset of "cruds", in that order
    constraints: tuple[Constraint, ...] = ()  # sorted by name, one per name
    version: int = 2

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def applies_to(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)

    def covers(self, other: ClinicalScope) -> bool:
        """True when ``other`` grants nothing that ``self`` does not."""
        return (
            self.context is other.context
            and self.resource_type in ("*", other.resource_type)
            and set(other.permissions) <= set(self.permissions)
            and all(_present(mine, other.constraints) for mine in self.constraints)
        )

    def intersect(self, other: ClinicalScope) -> ClinicalScope | None:
        """The widest scope both cover, or None when they share nothing."""
        resource_type = _common_type(self.resource_type, other.resource_type)
        permissions = "".join(p for p in PERMISSIONS if p in self.permissions and p in other.permissions)
        constraints = _merge(self.constraints, other.constraints)
        if self.context is not other.context or resource_type is None or not permissions:
            return None
        if constraints is None:
            return None
        v1 = self.version == 1 and not constraints and permissions in _V1_NAMES
        return ClinicalScope(self.context, resource_type, permissions, constraints, 1 if v1 else 2)

    def to_string(self) -> str:
        letters = self.permissions
        if self.version == 1 and not self.constraints and letters in _V1_NAMES:
            letters = _V1_NAMES[letters]
        text = f"{self.context.value}/{self.resource_type}.{letters}"
        if self.constraints:
            text += "?" + "&".join(constraint.render() for constraint in self.constraints)
        return text

    def __str__(self) -> str:
        return self.to_string()


Scope = ClinicalScope | str


def _present(mine: Constraint, theirs: tuple[Constraint, ...]) -> bool:
    return any(constraint.within(mine) for constraint in theirs)


def _common_type(first: str, second: str) -> str | None:
    if first == second or second == "*":
        return first
    return second if first == "*" else None


def _merge(first: tuple[Constraint, ...], second: tuple[Constraint, ...]) -> tuple[Constraint, ...] | None:
    """Both sets AND-ed; a parameter in both keeps the values they share (None if they share none)."""
    merged = {constraint.name: constraint for constraint in first}
    for constraint in second:
        mine = merged.get(constraint.name)
        if mine is not None:
            shared = tuple(value for value in mine.values if value in constraint.values)
            if not shared:
                return None
            constraint = Constraint(constraint.name, shared)
        merged[constraint.name] = constraint
    return tuple(sorted(merged.values()))


def parse_scope(text: str) -> Scope:
    """One scope: a :class:`ClinicalScope`, or the name of a non-clinical scope."""
    if not text:
        raise InvalidScope("A scope is empty (two spaces in a row, or a leading or trailing space).")
    if len(text) > MAX_SCOPE_CHARS or not _SCOPE_TOKEN_RE.fullmatch(text):
        raise _invalid(text, "it is too long or holds characters a scope may not contain")
    if text in NAMED_SCOPES:
        return text
    match = _CLINICAL_RE.fullmatch(text)
    if match is None:
        raise _invalid(text, "it is not a known scope")
    context, resource_type, letters, query = match.groups()
    return ClinicalScope(
        _context(text, context),
        _resource_type(text, resource_type),
        _permissions(text, letters, query),
        _constraints(text, resource_type, query),
        1 if letters in V1_PERMISSIONS else 2,
    )


def _invalid(text: str, problem: str) -> InvalidScope:
    shown = text if len(text) <= 120 else text[:117] + "..."
    shown = "".join(ch if 0x21 <= ord(ch) <= 0x7E else "?" for ch in shown)
    return InvalidScope(f"The scope '{shown}' is not valid: {problem}.")


def _context(text: str, context: str) -> Context:
    try:
        return Context(context)
    except ValueError:
        raise _invalid(text, "the context must be patient, user or system") from None


def _resource_type(text: str, resource_type: str) -> str:
    if resource_type == "*" or resource_type in RESOURCE_TYPES:
        return resource_type
    raise _invalid(text, "it names an unknown resource type")


def _permissions(text: str, letters: str, query: str | None) -> str:
    if letters in V1_PERMISSIONS:
        if query is not None:
            raise _invalid(text, "a v1 permission (read, write, *) cannot carry v2 query constraints")
        return V1_PERMISSIONS[letters]
    if not letters:
        raise _invalid(text, "it grants no permission")
    if not set(letters) <= set(PERMISSIONS):
        raise _invalid(text, "permissions must be letters of 'cruds' (or v1 read, write, *)")
    if len(set(letters)) != len(letters):
        raise _invalid(text, "it repeats a permission")
    if "".join(p for p in PERMISSIONS if p in letters) != letters:
        raise _invalid(text, "permissions must be written in the order c, r, u, d, s")
    return letters


def _constraints(text: str, resource_type: str, query: str | None) -> tuple[Constraint, ...]:
    if query is None:
        return ()
    if resource_type == "*":
        raise _invalid(text, "query constraints need a named resource type, not '*'")
    try:
        parsed = parse_query(query)
    except RequestError as exc:
        raise _invalid(text, f"its query does not parse ({exc.message.rstrip('.')})") from None
    if parsed.includes or parsed.revincludes or not parsed.params:
        raise _invalid(text, "its query may hold only search parameters")
    constraints = [_constraint(text, resource_type, param) for param in parsed.params]
    names = [constraint.name for constraint in constraints]
    if len(set(names)) != len(names):
        raise _invalid(text, "it repeats a constraint parameter; list the values as a,b instead")
    return tuple(sorted(constraints))


def _constraint(text: str, resource_type: str, param: SearchParam) -> Constraint:
    if param.modifier is not None or param.chain or param.has is not None:
        raise _invalid(text, f"the constraint '{param.name}' may not use a modifier, chain or _has")
    if not is_constrainable(resource_type, param.name):
        raise _invalid(text, f"the gateway cannot enforce a constraint on '{param.name}' for {resource_type}")
    values = param.raw_values
    if not all(values) or any(_empty_code(value) for value in values):
        raise _invalid(text, f"the constraint '{param.name}' has an empty value")
    return Constraint(param.name, tuple(sorted(set(values))))


def _empty_code(raw: str) -> bool:
    parts = split_escaped(raw, "|")
    return len(parts) == 1 and not parts[0]


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """A set of granted or requested scopes: clinical scopes and non-clinical names."""

    clinical: frozenset[ClinicalScope] = frozenset()
    named: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> ScopeSet:
        """Parse a space-separated scope string; an empty string is the empty set."""
        if not text:
            return cls()
        parts = text.split(" ")
        if len(parts) > MAX_SCOPES:
            raise InvalidScope(f"More than {MAX_SCOPES} scopes were requested.")
        return cls.of(parse_scope(part) for part in parts)

    @classmethod
    def of(cls, scopes: Iterable[Scope]) -> ScopeSet:
        items = list(scopes)
        clinical = frozenset(item for item in items if isinstance(item, ClinicalScope))
        named = frozenset(item for item in items if isinstance(item, str))
        return cls(clinical, named)

    def __iter__(self) -> Iterator[Scope]:
        yield from sorted(self.named)
        yield from sorted(self.clinical)

    def __bool__(self) -> bool:
        return bool(self.clinical or self.named)

    def __contains__(self, name: object) -> bool:
        return name in self.named

    def in_context(self, *contexts: Context) -> tuple[ClinicalScope, ...]:
        return tuple(sorted(scope for scope in self.clinical if scope.context in contexts))

    def covers(self, scope: ClinicalScope) -> bool:
        return any(mine.covers(scope) for mine in self.clinical)

    def within(self, registered: ScopeSet) -> ScopeSet:
        """What may be granted: each requested scope narrowed to what a registered scope allows.

        The result allows exactly what both sets allow; scopes of one type and
        constraint set are merged (``.r`` + ``.s`` -> ``.rs``) and covered ones dropped.
        """
        found = {mine.intersect(theirs) for mine in self.clinical for theirs in registered.clinical}
        clinical = _minimal(_merged(scope for scope in found if scope is not None))
        return ScopeSet(clinical, self.named & registered.named)

    def to_string(self) -> str:
        """Canonical text (non-clinical names, then clinical scopes, each sorted) for a token's ``scope``."""
        return " ".join(str(scope) for scope in self)


def _merged(scopes: Iterable[ClinicalScope]) -> list[ClinicalScope]:
    """One scope per (context, type, constraints), holding the union of their permissions.

    The set allows the same either way; merging keeps :func:`_minimal`, which is
    quadratic, small even when a client requests many variants of one scope.
    """
    groups: dict[tuple[Context, str, tuple[Constraint, ...]], list[ClinicalScope]] = {}
    for scope in scopes:
        groups.setdefault((scope.context, scope.resource_type, scope.constraints), []).append(scope)
    return [_union(members) for members in groups.values()]


def _union(members: list[ClinicalScope]) -> ClinicalScope:
    first = members[0]
    permissions = "".join(p for p in PERMISSIONS if any(p in scope.permissions for scope in members))
    v1 = all(scope.version == 1 for scope in members) and permissions in _V1_NAMES
    return ClinicalScope(first.context, first.resource_type, permissions, first.constraints, 1 if v1 else 2)


def _minimal(scopes: Iterable[ClinicalScope]) -> frozenset[ClinicalScope]:
    """Drop each scope another one covers (of two equivalent scopes, keep the first in sort order)."""
    ordered = sorted(set(scopes))
    kept: list[ClinicalScope] = []
    for index, scope in enumerate(ordered):
        others = ordered[:index] + ordered[index + 1 :]
        if not any(_strictly_covers(other, scope, other < scope) for other in others):
            kept.append(scope)
    return frozenset(kept)


def _strictly_covers(other: ClinicalScope, scope: ClinicalScope, earlier: bool) -> bool:
    if not other.covers(scope):
        return False
    return earlier or not scope.covers(other)
