"""Evidence of use for access reviews: requests per client, resource type and interaction, and when last.

The source is the audit trail: every exchange a client makes is an audit event
naming the client, the resource type and the interaction, stored durably by
every node. An access review reads it over its look-back period
(``vendors.review_unused_days``); nothing is counted on the request path.
Refused requests count too: they still show which data the client reaches for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from phigate.types import ClientId


@dataclass(frozen=True)
class Use:
    client_id: ClientId
    resource_type: str
    interaction: str
    count: int
    last_at: datetime


@dataclass(frozen=True)
class Refusals:
    """How many of a client's requests were refused, and how (the audit outcome: forbidden, login, ...)."""

    client_id: ClientId
    outcome: str
    count: int


@dataclass(frozen=True)
class Disclosures:
    """What a client was sent: patient disclosures (one per patient per reply) and distinct patients."""

    client_id: ClientId
    disclosures: int
    patients: int


class UsageSource(Protocol):
    """The uses of ``client_ids`` since ``since``, one per (client, resource type, interaction).

    Requests at the system level (no resource type) are left out: no resource scope covers them.
    Raises :class:`phigate.errors.StorageError` when the trail cannot be read.
    """

    async def uses(self, since: datetime, client_ids: Collection[str]) -> list[Use]: ...
