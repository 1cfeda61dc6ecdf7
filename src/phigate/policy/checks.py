"""The response (and request-body) post-check: does a resource stay within what was granted?

Pure, on parsed JSON. A resource passes :func:`check_resource` when a rule of
:class:`~phigate.policy.decisions.CheckResponse` admits its type and one of that
rule's constraint sets holds, and, in patient context, it is in the patient's
compartment. Anything the check cannot read (no ``resourceType``, an element of
an unexpected shape) fails: the check denies by default.

Constraints are token matches as FHIR search defines them: ``code`` (any system),
``system|code``, ``|code`` (no system) and ``system|`` (any code of the system),
against Coding, CodeableConcept, Identifier, or a plain ``code`` element (which
has no system, so only ``code`` and ``|code`` can match it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phigate.fhir.search import split_token
from phigate.policy.compartments import in_compartment
from phigate.policy.decisions import COMPARTMENT, AccessDecision, CheckResponse, ConstraintSet
from phigate.policy.elements import constraint_paths, values_at
from phigate.policy.scopes import Constraint

_OUTCOME_MODE = "outcome"


def check_resource(resource: Mapping[str, Any], check: CheckResponse) -> AccessDecision:
    resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(resource_type, str):
        return AccessDecision.deny("The resource has no resource type.", "a resource type")
    rules = [rule for rule in check.rules if rule.applies_to(resource_type)]
    if not rules:
        return AccessDecision.deny(f"The token does not grant access to {resource_type}.", resource_type)
    if not any(_holds(resource, resource_type, alt) for rule in rules for alt in rule.alternatives):
        return AccessDecision.deny(
            f"The {resource_type} is outside the query constraints of the granted scopes.",
            f"{resource_type} within the granted scope constraints",
        )
    if check.patient is not None and not in_compartment(resource, check.patient):
        return AccessDecision.deny(f"The {resource_type} is outside the patient's compartment.", COMPARTMENT)
    return AccessDecision.allow("The resource is within the grant.")


def check_bundle(bundle: Mapping[str, Any], check: CheckResponse) -> tuple[int, ...]:
    """Indices of the entries that fail the check (an entry without a resource fails)."""
    entries = bundle.get("entry") if isinstance(bundle, Mapping) else None
    if entries is None:
        return ()
    if not isinstance(entries, list):
        return (0,)
    return tuple(index for index, entry in enumerate(entries) if not _entry_passes(entry, check))


def _entry_passes(entry: Any, check: CheckResponse) -> bool:
    if not isinstance(entry, Mapping):
        return False
    resource = entry.get("resource")
    if not isinstance(resource, Mapping):
        return False
    if _is_search_outcome(entry, resource):
        return True
    return check_resource(resource, check).allowed


def _is_search_outcome(entry: Mapping[str, Any], resource: Mapping[str, Any]) -> bool:
    """An OperationOutcome the server adds to a searchset about the search itself."""
    search = entry.get("search")
    mode = search.get("mode") if isinstance(search, Mapping) else None
    return resource.get("resourceType") == "OperationOutcome" and mode == _OUTCOME_MODE


def _holds(resource: Mapping[str, Any], resource_type: str, constraints: ConstraintSet) -> bool:
    return all(_matches(resource, resource_type, constraint) for constraint in constraints)


def _matches(resource: Mapping[str, Any], resource_type: str, constraint: Constraint) -> bool:
    tokens = [split_token(value) for value in constraint.values]
    elements = [value for path in constraint_paths(resource_type, constraint.name)
                for value in values_at(resource, path)]  # fmt: skip
    return any(_token_matches(coded, token) for element in elements
               for coded in _codes(element) for token in tokens)  # fmt: skip


def _codes(element: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs an element holds; a plain code has no system."""
    if isinstance(element, str):
        return [(None, element)]
    if isinstance(element, bool):
        return [(None, "true" if element else "false")]
    if not isinstance(element, Mapping):
        return []
    if isinstance(element.get("coding"), list):
        return [pair for coding in element["coding"] for pair in _codes(coding)]
    code = element.get("code", element.get("value"))
    system = element.get("system")
    if not isinstance(code, str) or not (system is None or isinstance(system, str)):
        return []
    return [(system, code)]


def _token_matches(coded: tuple[str | None, str], token: tuple[str | None, str]) -> bool:
    system, code = coded
    want_system, want_code = token
    if want_system is None:
        return code == want_code
    if want_system == "":
        return system is None and code == want_code
    return system == want_system and (want_code == "" or code == want_code)
