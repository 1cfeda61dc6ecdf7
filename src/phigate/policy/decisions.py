"""An access decision and the obligations that come with an allowance, as values.

An allowed :class:`AccessDecision` may carry obligations; the gateway must meet
every one or refuse the request (an obligation it does not know is a refusal):

- :class:`NarrowSearch`: AND these parameters into the upstream query
  (:meth:`NarrowSearch.apply` gives the narrowed request);
- :class:`CheckResponse`: each resource in the answer must pass
  :func:`phigate.policy.checks.check_resource` (or be dropped from a searchset);
- :class:`CheckRequest`: the resource in the request body must pass the same
  check before it is forwarded (create, update);
- :class:`CheckCurrent`: the target's current version must pass the check
  before a write is forwarded, which needs a read first (update, delete);
- :class:`AuthoriseEntries`: a batch or transaction; every entry must be decided
  with :func:`phigate.policy.access.decide_bundle` first.

A denial names what was missing (``system/Observation.s``, ``patient compartment
of the token's patient``) in ``missing``; ``reason`` is safe to show a caller:
it names resource types and parameters, never a value from the request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

from phigate.fhir.request import FhirRequest
from phigate.fhir.search import SearchParam, SearchValue, split_escaped
from phigate.policy.scopes import Constraint
from phigate.types import PatientId

COMPARTMENT = "patient compartment of the token's patient"

ConstraintSet = tuple[Constraint, ...]
UNCONSTRAINED: tuple[ConstraintSet, ...] = ((),)


@dataclass(frozen=True, slots=True)
class TypeRule:
    """Resources of ``resource_type`` (or any, for ``*``) that match one of ``alternatives``.

    Each alternative is a set of constraints that must all hold; the empty set
    always holds, so ``UNCONSTRAINED`` (``((),)``) admits every resource of the type.
    """

    resource_type: str
    alternatives: tuple[ConstraintSet, ...] = UNCONSTRAINED

    @property
    def constrained(self) -> bool:
        return () not in self.alternatives

    def applies_to(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)


@dataclass(frozen=True, slots=True)
class NarrowSearch:
    """Parameters (name, raw value with FHIR escapes) to AND into the upstream query."""

    params: tuple[tuple[str, str], ...]

    def apply(self, request: FhirRequest) -> FhirRequest:
        added = tuple(_search_param(name, value) for name, value in self.params)
        return replace(request, params=request.params + added)


def _search_param(name: str, value: str) -> SearchParam:
    return SearchParam(name, tuple(SearchValue(raw) for raw in split_escaped(value, ",")))


@dataclass(frozen=True, slots=True)
class CheckResponse:
    """What a resource must satisfy to leave the gateway: a type rule, and the patient's compartment."""

    rules: tuple[TypeRule, ...]
    patient: PatientId | None = None


@dataclass(frozen=True, slots=True)
class CheckRequest:
    check: CheckResponse


@dataclass(frozen=True, slots=True)
class CheckCurrent:
    check: CheckResponse


@dataclass(frozen=True, slots=True)
class AuthoriseEntries:
    pass


Obligation = NarrowSearch | CheckResponse | CheckRequest | CheckCurrent | AuthoriseEntries
ObligationT = TypeVar(
    "ObligationT", NarrowSearch, CheckResponse, CheckRequest, CheckCurrent, AuthoriseEntries
)


@dataclass(frozen=True, slots=True)
class AccessDecision:
    allowed: bool
    reason: str
    missing: str | None = None
    obligations: tuple[Obligation, ...] = ()

    @classmethod
    def allow(cls, reason: str, *obligations: Obligation | None) -> AccessDecision:
        return cls(True, reason, None, tuple(item for item in obligations if item is not None))

    @classmethod
    def deny(cls, reason: str, missing: str | None) -> AccessDecision:
        return cls(False, reason, missing)

    def obligation(self, kind: type[ObligationT]) -> ObligationT | None:
        """The first obligation of ``kind``, or None."""
        return next((item for item in self.obligations if isinstance(item, kind)), None)

    def with_obligations(self, *obligations: Obligation | None) -> AccessDecision:
        if not self.allowed:
            return self
        added = tuple(item for item in obligations if item is not None)
        return replace(self, obligations=self.obligations + added)
