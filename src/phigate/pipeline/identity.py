"""Stage: authenticate. Until an authenticator is configured, default deny.

``GET [base]/metadata`` stays public, as FHIR requires of the
CapabilityStatement; every other FHIR request without an accepted credential
ends here with 401 and ``WWW-Authenticate``.
"""

from __future__ import annotations

from phigate.errors import AuthenticationRequired
from phigate.exchange import Exchange
from phigate.fhir.request import Interaction


async def deny_without_identity(ex: Exchange) -> None:
    if ex.fhir is not None and ex.fhir.interaction is Interaction.CAPABILITIES:
        return
    raise AuthenticationRequired()
