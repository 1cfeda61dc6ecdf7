"""One FHIR RESTful request as a typed value: what it does, to which resources, with which parameters.

Built by :func:`phigate.fhir.parser.parse_request`; policies read it, never the raw
URL. It is frozen: a narrowing obligation yields a new request
(``dataclasses.replace``), it does not edit this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from phigate.errors import RequestError
from phigate.fhir.search import Include, SearchParam, SearchQuery

ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class Interaction(StrEnum):
    READ = "read"
    VREAD = "vread"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    HISTORY = "history"
    OPERATION = "operation"
    # POST to the base: the parser cannot see the Bundle type, so it reports BATCH
    # and the caller, once it has read the body, calls :meth:`FhirRequest.refine_bundle`.
    BATCH = "batch"
    TRANSACTION = "transaction"
    CAPABILITIES = "capabilities"


class Level(StrEnum):
    """Where the request is addressed: the base, a type, one instance, or a compartment."""

    SYSTEM = "system"
    TYPE = "type"
    INSTANCE = "instance"
    COMPARTMENT = "compartment"


_READ_ONLY = frozenset(
    {Interaction.READ, Interaction.VREAD, Interaction.SEARCH, Interaction.HISTORY,
     Interaction.CAPABILITIES}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Compartment:
    """``/Patient/123/...``: the compartment a search is confined to."""

    type: str
    id: str


@dataclass(frozen=True, slots=True)
class FhirRequest:
    """A parsed request.

    ``resource_type`` is ``None`` at the system level and for ``/Patient/1/*``.
    ``operation`` is the name without ``$``; for operations ``level`` is
    system, type or instance. ``conditional`` marks a PUT, PATCH or DELETE on a
    type, selected by its search parameters.
    """

    interaction: Interaction
    method: str
    level: Level
    resource_type: str | None = None
    id: str | None = None
    version_id: str | None = None
    compartment: Compartment | None = None
    operation: str | None = None
    conditional: bool = False
    params: tuple[SearchParam, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()

    @property
    def query(self) -> SearchQuery:
        return SearchQuery(self.params, self.includes, self.revincludes)

    def to_query(self) -> str:
        """The parameters rendered as a query string; parsing it gives the same parameters."""
        return self.query.to_query()

    def named(self, name: str) -> tuple[SearchParam, ...]:
        return tuple(param for param in self.params if param.name == name)

    @property
    def operation_level(self) -> Level | None:
        return self.level if self.interaction is Interaction.OPERATION else None

    @property
    def is_read_only(self) -> bool:
        """True only when FHIR forbids the request to change state (GET operations included)."""
        if self.interaction is Interaction.OPERATION:
            return self.method in ("GET", "HEAD")
        return self.interaction in _READ_ONLY

    @property
    def patient_id(self) -> str | None:
        """The patient the path addresses (``/Patient/1``, ``/Patient/1/...``); search params are not read."""
        if self.compartment is not None:
            return self.compartment.id if self.compartment.type == "Patient" else None
        return self.id if self.resource_type == "Patient" else None

    def refine_bundle(self, bundle_type: str) -> FhirRequest:
        """Set batch or transaction from the posted Bundle's ``type``."""
        if self.interaction not in (Interaction.BATCH, Interaction.TRANSACTION):
            raise RequestError("Only a POST to the FHIR base takes a batch or transaction Bundle.")
        if bundle_type not in ("batch", "transaction"):
            raise RequestError("A Bundle posted to the FHIR base must be a batch or a transaction.")
        return replace(self, interaction=Interaction(bundle_type))


def is_valid_id(text: str) -> bool:
    return ID_RE.fullmatch(text) is not None
