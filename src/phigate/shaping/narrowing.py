"""The request side of a data contract: refuse what it forbids, narrow what it allows.

:func:`narrow` is pure (``now`` is passed in) and returns a value: either a
refusal whose reason names the contract's key path (safe to show: it holds
configuration names, never a request value), or the request to send upstream,
with the contract's search constraints ANDed in and ``_count`` held to the
contract's page size, so the upstream returns less.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from phigate.fhir.request import FhirRequest, Interaction
from phigate.fhir.search import Include, SearchParam, SearchValue, split_escaped
from phigate.shaping.contracts import Contract, ParameterRule, TypeTerms

_PAGED = frozenset({Interaction.SEARCH, Interaction.HISTORY})


@dataclass(frozen=True, slots=True)
class Narrowing:
    request: FhirRequest
    refusal: str | None = None
    added: tuple[str, ...] = ()  # names of the parameters the contract added or capped
    purpose: str | None = None

    @classmethod
    def refuse(cls, request: FhirRequest, reason: str) -> Narrowing:
        return cls(request, reason)


def narrow(request: FhirRequest, contract: Contract, now: float, purpose: str | None = None) -> Narrowing:
    if request.interaction is Interaction.CAPABILITIES:
        return Narrowing(request)
    purpose_refusal = _purpose(contract, purpose)
    if purpose_refusal is not None:
        return Narrowing.refuse(request, purpose_refusal)
    terms_or_reason = _terms(request, contract)
    if isinstance(terms_or_reason, str):
        return Narrowing.refuse(request, terms_or_reason)
    forbidden = _forbidden(request, contract.forbidden)
    if forbidden is not None:
        return Narrowing.refuse(
            request,
            f"The data contract forbids {forbidden.text} ({contract.key}.forbidden_parameters).",
        )
    terms = terms_or_reason
    # Only a configured code is recorded: a free header value could carry anything.
    chosen = (
        purpose if purpose in contract.purposes else (contract.purposes[0] if contract.purposes else None)
    )
    if request.interaction not in _PAGED or terms is None:
        return Narrowing(request, purpose=chosen)
    if request.interaction is Interaction.HISTORY and terms.constraints:
        return Narrowing.refuse(
            request, f"History cannot be narrowed by the search constraints of {terms.key}.search."
        )
    added = tuple(
        SearchParam(c.name, tuple(SearchValue(v) for v in split_escaped(c.render(now), ",")))
        for c in terms.constraints
    )
    params, capped = _page_size(request.params, contract.max_page_size)
    names = tuple(p.name for p in added) + (("_count",) if capped else ())
    return Narrowing(replace(request, params=params + added), added=names, purpose=chosen)


def _purpose(contract: Contract, purpose: str | None) -> str | None:
    if purpose is None or not contract.purposes or purpose in contract.purposes:
        return None
    return f"The data contract does not cover this purpose of use ({contract.key}.purposes)."


def _terms(request: FhirRequest, contract: Contract) -> TypeTerms | str | None:
    """The terms of the addressed type; a reason string when the contract refuses the request."""
    if request.interaction is Interaction.OPERATION:
        if request.operation not in contract.operations:
            return f"The data contract does not allow ${request.operation} ({contract.key}.operations)."
        return contract.types.get(request.resource_type or "")
    if request.interaction in (Interaction.BATCH, Interaction.TRANSACTION):
        return f"Batch and transaction requests are not allowed under a data contract ({contract.key})."
    if request.resource_type is None:
        return f"Requests across types are not allowed under a data contract ({contract.key}.resources)."
    terms = contract.types.get(request.resource_type)
    if terms is None:
        return f"The data contract does not allow {request.resource_type} ({contract.key}.resources)."
    if request.interaction.value not in terms.interactions:
        what = f"{request.interaction.value} of {terms.resource_type}"
        return f"The data contract does not allow {what} ({terms.key}.interactions)."
    return terms


def _forbidden(request: FhirRequest, rules: tuple[ParameterRule, ...]) -> ParameterRule | None:
    for rule in rules:
        if rule.name in ("_include", "_revinclude"):
            includes = request.includes if rule.name == "_include" else request.revincludes
            if any(_include_matches(rule, include) for include in includes):
                return rule
        elif any(_param_matches(rule, param) for param in request.params):
            return rule
    return None


def _include_matches(rule: ParameterRule, include: Include) -> bool:
    if rule.modifier is not None and not (rule.modifier == "iterate" and include.iterate):
        return False
    return rule.value is None or (rule.value == "*" and include.wildcard) or rule.value == include.render()


def _param_matches(rule: ParameterRule, param: SearchParam) -> bool:
    if param.name != rule.name:
        return False
    if rule.modifier is not None and param.modifier != rule.modifier:
        return False
    return rule.value is None or rule.value in param.raw_values


def _page_size(params: tuple[SearchParam, ...], maximum: int) -> tuple[tuple[SearchParam, ...], bool]:
    """``_count`` at most ``maximum`` (added when absent): a page never holds more than allowed."""
    kept = tuple(p for p in params if p.name != "_count")
    counts = [p for p in params if p.name == "_count"]
    asked = counts[0].raw_values[0] if counts and counts[0].raw_values else ""
    if asked.isdigit() and int(asked) <= maximum:
        return params, False
    return (*kept, SearchParam("_count", (SearchValue(str(maximum)),))), True
