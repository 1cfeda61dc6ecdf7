"""The authorisation decision over a parsed FHIR request: SMART scopes and patient context.

Interactions map to permissions: read, vread and instance history need ``r``;
search (:mod:`phigate.policy.searches`), type and system history need ``s``;
create ``c``; update and patch ``u``; delete ``d``. The capability statement is
always allowed; operations are decided in :mod:`phigate.policy.operations`; a
batch or transaction is allowed only as a container whose entries are each
decided with :func:`decide_bundle` (obligation :class:`AuthoriseEntries`).

Reads of a constrained type, and every read in patient context, are allowed
with a :class:`CheckResponse`: the answer is checked before it leaves. Writes
carry the same check on the resource sent (:class:`CheckRequest`) and, for an
existing resource, on its current version (:class:`CheckCurrent`), so a write
can neither create nor overwrite a resource outside the grant. Where no such
check is possible the write is refused when constraints or a patient context
apply: a patch (its result is not known before it is applied) and a conditional
update or delete (it selects resources by a query). In patient context type and
system history are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from phigate.fhir.request import FhirRequest, Interaction, Level
from phigate.policy.compartments import is_compartment_type
from phigate.policy.decisions import (
    COMPARTMENT,
    AccessDecision,
    AuthoriseEntries,
    CheckCurrent,
    CheckRequest,
    CheckResponse,
    TypeRule,
)
from phigate.policy.grants import Grant
from phigate.policy.operations import decide_operation
from phigate.policy.searches import decide_search

_PERMISSION = {
    Interaction.READ: "r", Interaction.VREAD: "r", Interaction.CREATE: "c",
    Interaction.UPDATE: "u", Interaction.PATCH: "u", Interaction.DELETE: "d",
}  # fmt: skip
_VERB = {"r": "read", "s": "search", "c": "create", "u": "update", "d": "delete"}


def decide(request: FhirRequest, grant: Grant) -> AccessDecision:
    """Allow (with obligations) or deny one request; deny is the default."""
    handler = _HANDLERS.get(request.interaction)
    if handler is None:
        return AccessDecision.deny("The interaction is not permitted by the access policy.", None)
    return handler(request, grant)


def decide_bundle(entries: Sequence[FhirRequest], grant: Grant) -> tuple[AccessDecision, ...]:
    """One decision per batch/transaction entry, in order; a transaction is refused if any is denied."""
    return tuple(_entry(entry, grant) for entry in entries)


def denied_entries(decisions: Sequence[AccessDecision]) -> tuple[int, ...]:
    """The indices of the denied entries (to name them in the refusal)."""
    return tuple(index for index, decision in enumerate(decisions) if not decision.allowed)


def _entry(entry: FhirRequest, grant: Grant) -> AccessDecision:
    if entry.interaction in (Interaction.BATCH, Interaction.TRANSACTION):
        return AccessDecision.deny("A Bundle entry may not itself be a batch or transaction.", None)
    return decide(entry, grant)


def _capabilities(request: FhirRequest, grant: Grant) -> AccessDecision:
    return AccessDecision.allow("The capability statement is public.")


def _bundle(request: FhirRequest, grant: Grant) -> AccessDecision:
    return AccessDecision.allow("A batch or transaction is authorised entry by entry.", AuthoriseEntries())


def _history(request: FhirRequest, grant: Grant) -> AccessDecision:
    if request.level is Level.INSTANCE:
        return _read(request, grant)
    if grant.patient is not None:
        return AccessDecision.deny(
            "In patient context history is allowed only for one resource.", COMPARTMENT
        )
    resource_type = request.resource_type if request.level is Level.TYPE else "*"
    rule = grant.permits("s", resource_type or "*")
    if rule is None or (resource_type == "*" and rule.constrained):
        return _not_granted(grant, "s", resource_type or "*")
    check = CheckResponse((rule,)) if rule.constrained else None
    return AccessDecision.allow("The token grants the history of this type.", check)


def _read(request: FhirRequest, grant: Grant) -> AccessDecision:
    resource_type = request.resource_type
    if resource_type is None or request.id is None:
        return AccessDecision.deny("The read names no resource.", None)
    rule = grant.permits("r", resource_type)
    if rule is None:
        return _not_granted(grant, "r", resource_type)
    denial = _confinement_denial(request, grant)
    if denial is not None:
        return denial
    return AccessDecision.allow(f"The token grants read of {resource_type}.", _check(rule, grant))


def _write(request: FhirRequest, grant: Grant) -> AccessDecision:
    resource_type = request.resource_type
    permission = _PERMISSION[request.interaction]
    if resource_type is None:
        return AccessDecision.deny("The write names no resource type.", None)
    rule = grant.permits(permission, resource_type)
    if rule is None:
        return _not_granted(grant, permission, resource_type)
    guarded = grant.patient is not None or rule.constrained
    if guarded and (request.conditional or request.interaction is Interaction.PATCH):
        return AccessDecision.deny(
            "A patch or conditional write cannot be checked against patient context or scope constraints.",
            None,
        )
    denial = _confinement_denial(request, grant)
    if denial is not None:
        return denial
    return AccessDecision.allow(
        f"The token grants {_VERB[permission]} of {resource_type}.",
        *_write_checks(request, _check(rule, grant)),
    )


def _write_checks(
    request: FhirRequest, check: CheckResponse | None
) -> tuple[CheckRequest | CheckCurrent, ...]:
    if check is None:
        return ()
    body = (CheckRequest(check),) if request.interaction in (Interaction.CREATE, Interaction.UPDATE) else ()
    current = (
        (CheckCurrent(check),) if request.interaction in (Interaction.UPDATE, Interaction.DELETE) else ()
    )
    return body + current


def _confinement_denial(request: FhirRequest, grant: Grant) -> AccessDecision | None:
    """In patient context: the resource addressed must be the patient, or of a compartment type."""
    patient = grant.patient
    if patient is None:
        return None
    if request.resource_type == "Patient" and (
        request.id != patient or request.interaction is Interaction.CREATE
    ):
        return AccessDecision.deny("The Patient is not the token's patient.", COMPARTMENT)
    if not is_compartment_type(request.resource_type or ""):
        return AccessDecision.deny(
            f"{request.resource_type} is outside the patient compartment.", COMPARTMENT
        )
    return None


def _check(rule: TypeRule, grant: Grant) -> CheckResponse | None:
    if grant.patient is None and not rule.constrained:
        return None
    return CheckResponse((rule,), grant.patient)


def _not_granted(grant: Grant, permission: str, resource_type: str) -> AccessDecision:
    named = "every type" if resource_type == "*" else resource_type
    return AccessDecision.deny(
        f"The token does not grant {_VERB[permission]} of {named}.", grant.needed(permission, resource_type)
    )


_HANDLERS: dict[Interaction, Callable[[FhirRequest, Grant], AccessDecision]] = {
    Interaction.CAPABILITIES: _capabilities,
    Interaction.READ: _read,
    Interaction.VREAD: _read,
    Interaction.HISTORY: _history,
    Interaction.SEARCH: decide_search,
    Interaction.CREATE: _write,
    Interaction.UPDATE: _write,
    Interaction.PATCH: _write,
    Interaction.DELETE: _write,
    Interaction.OPERATION: decide_operation,
    Interaction.BATCH: _bundle,
    Interaction.TRANSACTION: _bundle,
}
