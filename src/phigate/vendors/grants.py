"""New scope grants and the vendor's security review (compliance-controls A.7).

The risk tier sets when a vendor's security assessment must be reviewed again
(critical 3 months ... low 24). Past that date the vendor is in *grace*: the
scopes its clients hold keep working (the posture engine only warns), but no
scope is added to any of its clients, and no client is added or re-enabled,
until it is reassessed. An offboarded vendor (A.11) gets no client ever again.
A refused grant is a 409 Conflict: the request is well formed, the vendor's
state forbids it.
"""

from __future__ import annotations

from datetime import date

from phigate.errors import RequestError
from phigate.vendors.clients import canonical_scopes
from phigate.vendors.dossier import Dossier


class GrantRefused(RequestError):
    """A new scope for a client whose vendor's security review is overdue."""

    status = 409
    code = "conflict"
    message = "No new scope may be granted to this vendor's clients now."


def grace_since(dossier: Dossier, today: date) -> date | None:
    """The review date the vendor's security assessment has passed (the vendor is in grace), or None."""
    assessment = dossier.assessment
    if assessment is None or today <= assessment.review_due:
        return None
    return assessment.review_due


def widened(ceiling: str, scope: str, dossier: Dossier, today: date) -> str:
    """The registered ceiling with ``scope`` added; unchanged when it holds it already.

    Raises :class:`GrantRefused` while the vendor is in grace, and RegistrationError for a malformed scope.
    """
    held = ceiling.split(" ")
    new = [s for s in canonical_scopes(scope).split(" ") if s not in held]
    if not new:
        return ceiling
    _refuse_in_grace(dossier, today, "none is added")
    return canonical_scopes(" ".join([*held, *new]))


def check_new_client(dossier: Dossier, today: date) -> None:
    """A client added to the vendor, or enabled again, is a new grant: refused offboarded or in grace."""
    if dossier.offboarding is not None:
        raise GrantRefused(f"Vendor '{dossier.vendor_id}' was offboarded: it gets no client again.")
    _refuse_in_grace(dossier, today, "no client is added or enabled")


def _refuse_in_grace(dossier: Dossier, today: date, what: str) -> None:
    overdue = grace_since(dossier, today)
    if overdue is not None:
        raise GrantRefused(
            f"The security review of vendor '{dossier.vendor_id}' is overdue since {overdue.isoformat()}: "
            f"its clients keep the scopes they hold, but {what} until the vendor is reassessed."
        )
