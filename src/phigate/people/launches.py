"""EHR launch contexts (SMART App Launch 2.x, "EHR launch"): the patient an app is opened for.

The EHR (or a portal) asks the gateway for a launch: which app, which patient,
optionally the encounter and the user who launched it. It gets an opaque
``launch`` value (256 bits, only its SHA-256 is stored) to hand the app with
``iss``; the app sends it back to ``/oauth2/authorize`` with the ``launch``
scope. The context is bound to that app, expires after ``launch_seconds`` and
yields at most one authorization code: :meth:`LaunchStore.consume` marks it
used in the same conditional update that checks it, on every node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from phigate.people.errors import UserError
from phigate.people.grants import hashed, new_secret

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class LaunchContext:
    launch_hash: str
    client_id: str
    patient: str
    created_at: float
    expires_at: float
    encounter: str | None = None
    user_id: str | None = None  # the person who launched the app; only they may complete it

    def live(self, now: float) -> bool:
        return now < self.expires_at


class LaunchStore(Protocol):
    async def add(self, context: LaunchContext) -> None: ...

    async def get(self, launch_hash: str) -> LaunchContext | None:
        """The context, used or not (expiry is the caller's check); ``None`` when unknown or used."""
        ...

    async def consume(self, launch_hash: str, now: float) -> bool:
        """True once: the context was live and unused, and is used from now on."""
        ...

    async def purge(self, now: float) -> int:
        """Forget expired contexts; how many."""
        ...


def new_launch(
    client_id: str, patient: str, now: float, seconds: int, encounter: str | None = None,
    user_id: str | None = None,
) -> tuple[str, LaunchContext]:  # fmt: skip
    """A fresh ``launch`` value and the context stored for it; ids are checked as FHIR ids."""
    for name, value in (("patient", patient), ("encounter", encounter)):
        if value is not None and not _FHIR_ID.fullmatch(value):
            raise UserError(name, "must be a FHIR resource id (1 to 64 of A-Z, a-z, 0-9, '-', '.')")
    value, digest = new_secret()
    return value, LaunchContext(digest, client_id, patient, now, now + seconds, encounter, user_id)


def launch_hash(value: str) -> str:
    return hashed(value)
