"""Starting an EHR launch: the EHR asks for a ``launch`` value for an app, a patient and the person.

The EHR (or a portal) then opens the app at its launch URL with ``iss`` (the
gateway's FHIR base) and ``launch``; the app sends ``launch`` back to
``/oauth2/authorize`` with the ``launch`` scope (:mod:`phigate.oauth.smart.authorize`).
Called from the admin API (``POST /admin/launches``) and ``phigate launch create``.
Every launch started is audited: it names a patient and, when given, the person.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from phigate.audit.events import AuditEvent, Kind
from phigate.oauth.endpoints import Endpoints
from phigate.people.apps import AppRegistry
from phigate.people.errors import UserError
from phigate.people.launches import LaunchStore, new_launch
from phigate.people.store import UserStore
from phigate.people.users import normalise_username
from phigate.types import ClientId
from phigate.vendors.clients import ClientRegistry

AuditSink = Callable[[AuditEvent], Awaitable[None]]


@dataclass(frozen=True)
class EhrLaunches:
    clients: ClientRegistry
    apps: AppRegistry
    users: UserStore
    launches: LaunchStore
    endpoints: Endpoints
    seconds: int
    audit: AuditSink | None = None
    clock: Callable[[], float] = field(default=time.time)

    async def start(
        self, client_id: str, patient: str, *, encounter: str | None = None, username: str | None = None,
        fhir_base: str | None = None, actor: str = "admin-api",
    ) -> dict[str, Any]:  # fmt: skip
        """The launch for the EHR to hand the app; :class:`UserError` names the field that is wrong."""
        client = await self.clients.get(ClientId(client_id)) if 0 < len(client_id) <= 128 else None
        if client is None or not client.active or not await self.apps.redirect_uris(client.client_id):
            raise UserError("client_id", "no active app registered for people has this client id")
        base = fhir_base or self.endpoints.fhir_bases[0]
        if base not in self.endpoints.fhir_bases:
            raise UserError("fhir_base", "must be the FHIR base URL of one of this gateway's routes")
        user_id = None
        if username is not None:
            user = await self.users.by_username(normalise_username(username))
            if user is None or not user.active:
                raise UserError("user", "no active user has this username")
            if user.patient_id is not None and user.patient_id != patient:
                raise UserError("patient", "a patient user is only launched into their own record")
            user_id = user.user_id
        now = self.clock()
        value, context = new_launch(client.client_id, patient, now, self.seconds, encounter, user_id)
        await self.launches.purge(now)
        await self.launches.add(context)
        if self.audit is not None:
            await self.audit(AuditEvent(
                kind=Kind.security, action="launch.created", recorded=now, client_id=client.client_id,
                vendor_id=client.vendor_id, user=user_id, resource_type="Patient", patients=(patient,),
                rules={"actor": actor, "encounter": encounter is not None},
            ))  # fmt: skip
        return {"launch": value, "iss": base, "client_id": client.client_id, "expires_in": self.seconds}
