"""Stage: authenticate. The caller's access token becomes an ``Identity``, or the exchange ends with 401.

``GET [base]/metadata`` stays public, as FHIR requires of the
CapabilityStatement; every other FHIR request needs a valid access token
(default deny). The DPoP ``htu`` is checked against the public URL built from
the configured issuer, never from the caller's Host header.
"""

from __future__ import annotations

from phigate.errors import AuthenticationRequired
from phigate.exchange import Exchange
from phigate.fhir.request import Interaction
from phigate.oauth.resource import RequestFacts, ResourceServer
from phigate.oauth.rfc6750 import presented_token


class Authenticate:
    def __init__(self, resource_server: ResourceServer, issuer: str) -> None:
        self.resource_server = resource_server
        self.issuer = issuer

    async def __call__(self, ex: Exchange) -> None:
        presented = presented_token(ex.header("authorization"), ex.query)
        if ex.fhir is not None and ex.fhir.interaction is Interaction.CAPABILITIES:
            return
        if presented is None:
            raise AuthenticationRequired()
        facts = RequestFacts(
            method=ex.method,
            url=self.issuer + ex.raw_path.decode("latin-1"),
            dpop_proof=ex.header("dpop"),
            client_cert_thumbprint=ex.client_cert_thumbprint,
        )
        ex.identity = await self.resource_server.authenticate(presented, facts)
        ex.facts["client_id"] = ex.identity.grant.client_id
        ex.facts["vendor_id"] = ex.identity.vendor_id
