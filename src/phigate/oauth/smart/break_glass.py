"""Breaking the glass at ``/oauth2/authorize``: the consent step's emergency path (HIPAA 164.312(a)(2)(ii)).

Only a signed-in person whose role may break the glass, at AAL2 (a second
factor proven in this session), with a stated reason. In this order: the record
is stored (open, for review), the alert is raised, and only then is the code
issued, so no emergency token exists without its record and its alert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from phigate.errors import Forbidden
from phigate.monitor.detectors import Alert
from phigate.monitor.detectors.alerts import Severity
from phigate.oauth.rfc6749.authorization_request import AuthorizationRequest
from phigate.oauth.smart.authorize import AppAuthorization
from phigate.people.break_glass import BreakGlass, BreakGlassStore, EmergencyPolicy, new_record_id
from phigate.people.sessions import Session
from phigate.people.users import User

log = structlog.get_logger("phigate.oauth")
DETECTOR = "break_glass"
AAL2 = "urn:phigate:aal2"


class EmergencyRefused(Forbidden):
    message = "Emergency access is not available to this account."


@dataclass(frozen=True)
class EmergencyAccess:
    authorization: AppAuthorization
    policy: EmergencyPolicy
    store: BreakGlassStore
    alerts: Callable[[Alert], None] | None  # the node's alert desk (None when the evidence plane is off)

    def available(self, user: User, session: Session) -> bool:
        return self.policy.may(user) and session.acr == AAL2

    async def grant(
        self, request: AuthorizationRequest, user: User, session: Session, reason: str, now: float,
        patient: str | None = None,
    ) -> str:  # fmt: skip
        """The redirect URL with a code for the emergency scopes; raises EmergencyRefused or UserError.

        ``patient``: the one chosen in the patient picker, when the launch had none in context.
        """
        if not self.available(user, session):
            raise EmergencyRefused()
        stated = self.policy.reason(reason)
        offered = await self.authorization.emergency_offer(request, user, self.policy, patient)
        if not offered.scopes:
            raise EmergencyRefused("The app asks for nothing emergency access could grant.")
        record = BreakGlass(
            record_id=new_record_id(),
            user_id=user.user_id,
            client_id=request.client_id,
            scope=offered.scopes.to_string(),
            reason=stated,
            started_at=now,
            expires_at=now + self.policy.token_seconds,
        )
        await self.store.add(record)
        await self._alert(record)
        return await self.authorization.issue(
            request, user, session, offered, now, break_glass=record.record_id
        )

    async def _alert(self, record: BreakGlass) -> None:
        client = await self.authorization.app(record.client_id)
        explanation = (
            f"emergency access {record.record_id} by user {record.user_id} through app {record.client_id} "
            f"(scopes {record.scope}); review and close it: phigate user break-glass close"
        )
        log.warning(
            "break_glass", record_id=record.record_id, user_id=record.user_id, client_id=record.client_id
        )
        if self.alerts is None:
            return
        vendor = client.vendor_id if client is not None else None
        alert = Alert(DETECTOR, Severity.high, record.record_id, explanation, record.started_at,
                      client_id=record.client_id, vendor_id=vendor)  # fmt: skip
        self.alerts(alert)
