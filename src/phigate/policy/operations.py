"""Operations the access policy models; every other operation is refused.

- ``Patient/<id>/$everything`` returns the patient's whole record, so it needs
  ``r`` and ``s`` without constraints on every type it may return: on ``*``, or,
  when ``_type`` lists the types, on each of them (the answer is then checked to
  hold only those types). In patient context ``<id>`` must be the token's patient
  and the answer is checked to stay in the compartment.
- ``$export`` (Bulk Data: ``/$export``, ``/Patient/$export``, ``/Group/<id>/$export``)
  needs ``system/`` scopes granting ``s`` without constraints. Each type listed
  in ``_type`` must be granted. Without ``_type``, ``system/*.s`` exports
  everything; otherwise the kick-off is narrowed by adding ``_type`` = the types
  the token grants (constrained ones left out: an export cannot be narrowed by
  them), so an export never holds more than the grant. Only a GET kick-off is
  accepted: parameters in a POST body are not seen by the policy.
"""

from __future__ import annotations

from phigate.fhir.request import FhirRequest, Level
from phigate.policy.decisions import COMPARTMENT, AccessDecision, CheckResponse, NarrowSearch, TypeRule
from phigate.policy.grants import Grant
from phigate.policy.scopes import Context, ScopeSet
from phigate.policy.searches import requested_types

_READ_METHODS = ("GET", "HEAD")


def decide_operation(request: FhirRequest, grant: Grant) -> AccessDecision:
    if request.operation == "everything":
        return _everything(request, grant)
    if request.operation == "export":
        return _export(request, grant)
    return AccessDecision.deny(
        f"The operation ${request.operation} is not permitted by the access policy.",
        f"an access rule for ${request.operation}",
    )


def _everything(request: FhirRequest, grant: Grant) -> AccessDecision:
    if request.level is not Level.INSTANCE or request.resource_type != "Patient":
        return AccessDecision.deny(
            "$everything is allowed only on one Patient (Patient/<id>/$everything).", None
        )
    if grant.patient is not None and request.id != grant.patient:
        return AccessDecision.deny("$everything is allowed only on the token's patient.", COMPARTMENT)
    types = requested_types(request) or ("*",)
    for resource_type in types:
        for permission in ("r", "s"):
            if not grant.permits_fully(permission, resource_type):
                return AccessDecision.deny(
                    f"$everything needs unconstrained read and search of {_named(resource_type)}.",
                    grant.needed(permission, resource_type),
                )
    check = None
    if grant.patient is not None or types != ("*",):
        check = CheckResponse(tuple(TypeRule(resource_type) for resource_type in types), grant.patient)
    return AccessDecision.allow("The token grants $everything on this patient.", check)


def _export(request: FhirRequest, grant: Grant) -> AccessDecision:
    system = Grant(ScopeSet.of(grant.scopes.in_context(Context.SYSTEM)), grant.client_id)
    if grant.patient is not None or not system.clinical:
        return AccessDecision.deny("$export needs system scopes (SMART Backend Services).", "system/*.s")
    if request.method not in _READ_METHODS:
        return AccessDecision.deny("$export is accepted only as a GET kick-off request.", None)
    if not _export_target(request):
        return AccessDecision.deny("$export is allowed at the base, on Patient, or on one Group.", None)
    types = requested_types(request)
    for resource_type in types:
        if not system.permits_fully("s", resource_type):
            return AccessDecision.deny(
                f"The token does not grant an unconstrained export of {resource_type}.",
                system.needed("s", resource_type),
            )
    if types or system.permits_fully("s", "*"):
        return AccessDecision.allow("The token grants this export.")
    return _narrowed_export(system)


def _export_target(request: FhirRequest) -> bool:
    if request.level is Level.SYSTEM:
        return True
    if request.level is Level.TYPE:
        return request.resource_type == "Patient"
    return request.level is Level.INSTANCE and request.resource_type == "Group"


def _narrowed_export(system: Grant) -> AccessDecision:
    granted = sorted({
        scope.resource_type for scope in system.clinical
        if scope.resource_type != "*" and system.permits_fully("s", scope.resource_type)
    })  # fmt: skip
    if not granted:
        return AccessDecision.deny("The token grants no unconstrained export of any type.", "system/*.s")
    return AccessDecision.allow(
        "The export is narrowed to the granted types.", NarrowSearch((("_type", ",".join(granted)),))
    )


def _named(resource_type: str) -> str:
    return "every type" if resource_type == "*" else resource_type
