"""Search decisions: the ``s`` permission, scope query constraints, and patient confinement.

Rules, each a denial unless stated:

- A search of a type needs ``s`` on it (``r`` alone never allows a search). A
  system search needs ``s`` on every ``_type`` it names, or on ``*`` without
  ``_type``; with exactly one ``_type`` it is decided as a search of that type.
  ``/Patient/<id>/Type`` needs ``s`` on Type, ``/Patient/<id>/*`` on ``*``.
- Scope query constraints are intersected with the query: a parameter the query
  already carries with the same or fewer values satisfies a constraint; one whose
  every value is disjoint from the constraint's (a different code or system) is
  refused; otherwise the constraint is AND-ed in (:class:`NarrowSearch`). Of
  several granted constraint sets, one satisfied set suffices; if several still
  need narrowing they are OR-ed when each is one value list of the same
  parameter, else the query must pick one. Across several types (a system
  search or ``/Patient/<id>/*``) constrained types cannot be narrowed and are refused.
- ``_type`` is only for a system search. ``_has`` needs unconstrained ``s`` on each
  type it reaches; a chain on each type it passes (``*`` when a link names none).
- ``_include`` with a named target type, and ``_revinclude``, need ``r`` on the
  type they add; every other included resource is checked in the response.
- Patient context: the search is narrowed to the patient (see
  :mod:`phigate.policy.compartments`) and refused when it names another
  patient, or targets a type outside the compartment; ``_has`` is refused (it
  reaches beyond the compartment); a chain only through the one reference that
  the narrowing pins to the patient; ``_include``/``_revinclude`` only into
  compartment types (no ``:iterate``, no ``*``); a system search only with one ``_type``.
"""

from __future__ import annotations

from enum import Enum

from phigate.fhir.request import FhirRequest, Level
from phigate.fhir.resources import RESOURCE_TYPES
from phigate.fhir.search import Include, SearchParam, split_token
from phigate.policy.compartments import Confinement, confinement, is_compartment_type, narrowing
from phigate.policy.decisions import (
    COMPARTMENT,
    AccessDecision,
    CheckResponse,
    ConstraintSet,
    NarrowSearch,
    TypeRule,
)
from phigate.policy.grants import Grant
from phigate.policy.scopes import Constraint

Pairs = tuple[tuple[str, str], ...]


class _Status(Enum):
    SATISFIED = "satisfied"
    CONFLICT = "conflict"
    MISSING = "missing"


def decide_search(request: FhirRequest, grant: Grant) -> AccessDecision:
    if request.level is Level.SYSTEM:
        return _system_search(request, grant)
    if request.level is Level.COMPARTMENT:
        return _compartment_search(request, grant)
    if request.level is Level.TYPE and request.resource_type is not None:
        return _type_search(request, grant, request.resource_type)
    return AccessDecision.deny("The search is not addressed to a type, the base or a compartment.", None)


def _type_search(
    request: FhirRequest, grant: Grant, resource_type: str, *, system: bool = False
) -> AccessDecision:
    rule = grant.permits("s", resource_type)
    if rule is None:
        return AccessDecision.deny(
            f"The token does not grant search of {resource_type}.", grant.needed("s", resource_type)
        )
    denial = _query_denial(request, grant, resource_type, system=system)
    if denial is not None:
        return denial
    confined = _patient_narrowing(request, grant, resource_type)
    if isinstance(confined, AccessDecision):
        return confined
    narrowed = _constraint_narrowing(request.params, rule, grant)
    if isinstance(narrowed, AccessDecision):
        return narrowed
    params = confined + narrowed
    return AccessDecision.allow(
        f"The token grants search of {resource_type}.",
        NarrowSearch(params) if params else None,
        response_check(request, grant, (rule,)),
    )


def _system_search(request: FhirRequest, grant: Grant) -> AccessDecision:
    types = requested_types(request)
    if len(types) == 1:
        return _type_search(request, grant, types[0], system=True)
    if grant.patient is not None:
        return AccessDecision.deny(
            "In patient context a system search must name one type with _type.", COMPARTMENT
        )
    return _multi_type_search(request, grant, types or ("*",))


def _multi_type_search(request: FhirRequest, grant: Grant, types: tuple[str, ...]) -> AccessDecision:
    for resource_type in types:
        if not grant.permits_fully("s", resource_type):
            return AccessDecision.deny(
                f"The token does not grant an unconstrained search of {_named(resource_type)}; "
                "a search across several types cannot be narrowed.",
                grant.needed("s", resource_type),
            )
    denial = _query_denial(request, grant, None, system=request.level is Level.SYSTEM)
    if denial is not None:
        return denial
    rules = tuple(TypeRule(resource_type) for resource_type in types)
    return AccessDecision.allow(
        "The token grants search of these types.", response_check(request, grant, rules)
    )


def _compartment_search(request: FhirRequest, grant: Grant) -> AccessDecision:
    compartment = request.compartment
    if compartment is None:
        return AccessDecision.deny("The compartment search names no compartment.", None)
    if grant.patient is not None and (compartment.type, compartment.id) != ("Patient", grant.patient):
        return AccessDecision.deny("The compartment is not the token's patient's.", COMPARTMENT)
    if request.resource_type is not None:
        return _type_search(request, grant, request.resource_type)
    return _multi_type_search(request, grant, ("*",))


def requested_types(request: FhirRequest) -> tuple[str, ...]:
    """The types listed by every ``_type`` parameter, in order, without repeats."""
    listed = [value.raw for param in request.named("_type") for value in param.values]
    return tuple(dict.fromkeys(listed))


def _named(resource_type: str) -> str:
    return "every type" if resource_type == "*" else resource_type


# -- the query: _type, _has, chains, includes ------------------------------------------------


def _query_denial(
    request: FhirRequest, grant: Grant, resource_type: str | None, *, system: bool
) -> AccessDecision | None:
    if request.named("_type") and not system:
        return AccessDecision.deny("The parameter _type is only for a search at the base.", None)
    for param in request.params:
        denial = (
            _has_denial(param, grant) if param.has is not None else _chain_denial(param, grant, resource_type)
        )
        if denial is not None:
            return denial
    for include in request.includes:
        denial = _include_denial(include, grant, resource_type)
        if denial is not None:
            return denial
    for include in request.revincludes:
        denial = _revinclude_denial(include, grant)
        if denial is not None:
            return denial
    return None


def _has_denial(param: SearchParam, grant: Grant) -> AccessDecision | None:
    if grant.patient is not None:
        return AccessDecision.deny(
            "In patient context _has is not allowed: it reaches beyond the compartment.", COMPARTMENT
        )
    types = param.has.resource_types if param.has is not None else ()
    return _unconstrained_search_of(types, grant, "_has")


def _chain_denial(param: SearchParam, grant: Grant, resource_type: str | None) -> AccessDecision | None:
    if not param.chain:
        return None
    if grant.patient is None:
        return _unconstrained_search_of(_hop_types(param), grant, f"the chain on '{param.name}'")
    pinned = resource_type is not None and param.name in (
        narrowing(resource_type, grant.patient)[0],
        "patient",
    )
    if pinned and len(param.chain) == 1 and param.modifier in (None, "Patient"):
        return None
    return AccessDecision.deny(
        f"In patient context a chain is allowed only through the patient reference, not '{param.name}'.",
        COMPARTMENT,
    )


def _hop_types(param: SearchParam) -> tuple[str, ...]:
    """The type each link of a chain passes through; ``*`` where the query does not name one."""
    modifiers = [param.modifier] + [link.modifier for link in param.chain[:-1]]
    return tuple(modifier if modifier in RESOURCE_TYPES else "*" for modifier in modifiers)


def _unconstrained_search_of(types: tuple[str, ...], grant: Grant, what: str) -> AccessDecision | None:
    for resource_type in types:
        if not grant.permits_fully("s", resource_type):
            return AccessDecision.deny(
                f"{what[:1].upper()}{what[1:]} searches {_named(resource_type)}, which the token does not "
                "grant without constraints.",
                grant.needed("s", resource_type),
            )
    return None


def _include_denial(include: Include, grant: Grant, resource_type: str | None) -> AccessDecision | None:
    if grant.patient is not None:
        denial = _patient_include_denial(include, grant, resource_type)
        if denial is not None:
            return denial
    target = include.target_type
    if target is not None and grant.permits("r", target) is None:
        return AccessDecision.deny(
            f"The token does not grant read of {target}, which _include adds.", grant.needed("r", target)
        )
    return None


def _patient_include_denial(
    include: Include, grant: Grant, resource_type: str | None
) -> AccessDecision | None:
    if include.iterate or include.wildcard or include.source_type is None:
        return AccessDecision.deny("In patient context _include may not iterate or use '*'.", COMPARTMENT)
    if resource_type is not None and include.source_type != resource_type:
        return AccessDecision.deny("The _include names another source type than the search.", None)
    target = include.target_type
    if target is not None and not is_compartment_type(target):
        return AccessDecision.deny(
            f"In patient context _include may not add {target}: it is outside the patient compartment.",
            COMPARTMENT,
        )
    return None


def _revinclude_denial(include: Include, grant: Grant) -> AccessDecision | None:
    if grant.patient is not None and (include.iterate or include.wildcard):
        return AccessDecision.deny("In patient context _revinclude may not iterate or use '*'.", COMPARTMENT)
    source = include.source_type
    if source is None:
        return None
    if grant.patient is not None and not is_compartment_type(source):
        return AccessDecision.deny(
            f"In patient context _revinclude may not add {source}: it is outside the patient compartment.",
            COMPARTMENT,
        )
    if grant.permits("r", source) is None:
        return AccessDecision.deny(
            f"The token does not grant read of {source}, which _revinclude adds.", grant.needed("r", source)
        )
    return None


# -- narrowing ---------------------------------------------------------------------------------


def _patient_narrowing(request: FhirRequest, grant: Grant, resource_type: str) -> Pairs | AccessDecision:
    patient = grant.patient
    if patient is None:
        return ()
    if not is_compartment_type(resource_type):
        return AccessDecision.deny(f"{resource_type} is outside the patient compartment.", COMPARTMENT)
    found = confinement(request.params, resource_type, patient)
    if found is Confinement.OTHER_PATIENT:
        return AccessDecision.deny("The search names a patient other than the token's patient.", COMPARTMENT)
    return () if found is Confinement.INSIDE else (narrowing(resource_type, patient),)


def _constraint_narrowing(
    params: tuple[SearchParam, ...], rule: TypeRule, grant: Grant
) -> Pairs | AccessDecision:
    if not rule.constrained:
        return ()
    outcomes = [_alternative(params, alternative) for alternative in rule.alternatives]
    if any(outcome == () for outcome in outcomes):
        return ()
    viable = [outcome for outcome in outcomes if outcome is not None]
    if not viable:
        return _constraint_denial(rule, grant, "is outside the query constraints granted")
    if len(viable) == 1:
        return tuple((constraint.name, constraint.value) for constraint in viable[0])
    names = {constraint.name for outcome in viable for constraint in outcome}
    if all(len(outcome) == 1 for outcome in viable) and len(names) == 1:
        values = sorted({value for outcome in viable for value in outcome[0].values})
        return ((names.pop(), ",".join(values)),)
    return _constraint_denial(rule, grant, "must select one of the query constraints granted")


def _constraint_denial(rule: TypeRule, grant: Grant, problem: str) -> AccessDecision:
    names = sorted({constraint.name for alternative in rule.alternatives for constraint in alternative})
    return AccessDecision.deny(
        f"The search of {rule.resource_type} {problem} for {', '.join(names)}.",
        f"{grant.needed('s', rule.resource_type)} for the requested {', '.join(names)}",
    )


def _alternative(params: tuple[SearchParam, ...], constraints: ConstraintSet) -> ConstraintSet | None:
    """The constraints still to AND in for this alternative, or None when the query contradicts it."""
    statuses = [(constraint, _status(params, constraint)) for constraint in constraints]
    if any(status is _Status.CONFLICT for _, status in statuses):
        return None
    return tuple(constraint for constraint, status in statuses if status is _Status.MISSING)


def _status(params: tuple[SearchParam, ...], constraint: Constraint) -> _Status:
    plain = [param for param in params
             if param.name == constraint.name and param.modifier is None and not param.chain]  # fmt: skip
    if any(set(param.raw_values) <= set(constraint.values) for param in plain):
        return _Status.SATISFIED
    if any(_disjoint_param(param, constraint) for param in plain):
        return _Status.CONFLICT
    return _Status.MISSING


def _disjoint_param(param: SearchParam, constraint: Constraint) -> bool:
    return all(_disjoint(value, allowed) for value in param.raw_values for allowed in constraint.values)


def _disjoint(first: str, second: str) -> bool:
    """True when no coding can match both tokens (their codes, or their stated systems, differ)."""
    system_a, code_a = split_token(first)
    system_b, code_b = split_token(second)
    if code_a and code_b and code_a != code_b:
        return True
    return system_a is not None and system_b is not None and system_a != system_b


# -- response ----------------------------------------------------------------------------------


def response_check(request: FhirRequest, grant: Grant, rules: tuple[TypeRule, ...]) -> CheckResponse | None:
    """The post-check a search's answer needs, or None when nothing it can hold is outside the grant."""
    includes = bool(request.includes or request.revincludes)
    if includes:
        rules = rules + grant.rules("r")
    constrained = any(rule.constrained for rule in rules)
    if grant.patient is None and not constrained and not (includes and not grant.permits_fully("r", "*")):
        return None
    return CheckResponse(rules, grant.patient)
