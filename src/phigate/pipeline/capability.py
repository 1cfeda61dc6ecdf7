"""Stage: the CapabilityStatement says how to get a token here (SMART ``oauth-uris``, security service).

The upstream's CapabilityStatement knows nothing of the gateway's authorisation
server; SMART clients that read the OAuth endpoints from ``/metadata`` (the
STU1 way, still used by the ``fhirclient`` package, deprecated in favour of
``.well-known/smart-configuration``) would find none. Only ``GET [base]/metadata``
replies are read and changed; everything else streams through untouched. The
upstream's statement rarely changes: the last one seen and its rewrite are kept,
so an unchanged statement costs a byte comparison, not a parse and a dump.
"""

from __future__ import annotations

from typing import Any

import orjson

from phigate.errors import UpstreamError
from phigate.exchange import Exchange, Reply
from phigate.fhir.request import Interaction
from phigate.oauth.endpoints import Endpoints

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
MAX_CAPABILITY_BYTES = 4 * 1024 * 1024


class AdvertiseSecurity:
    def __init__(self, endpoints: Endpoints, people: bool) -> None:
        uris = [
            ("token", endpoints.token),
            ("introspect", endpoints.introspection),
            ("revoke", endpoints.revocation),
        ]
        if people:
            uris.insert(0, ("authorize", endpoints.authorization))
        self.security: dict[str, Any] = {
            "extension": [{"url": OAUTH_URIS, "extension": [{"url": k, "valueUri": v} for k, v in uris]}],
            "service": [
                {
                    "coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}],
                    "text": "OAuth2 using SMART-on-FHIR profile",
                }
            ],
            "description": "Tokens from this gateway's authorisation server (SMART App Launch).",
        }
        self._last: tuple[bytes, bytes] = (b"", b"")  # the upstream's last statement and its rewrite

    async def __call__(self, ex: Exchange) -> None:
        reply = ex.reply
        if ex.fhir is None or ex.fhir.interaction is not Interaction.CAPABILITIES or reply is None:
            return
        if reply.status != 200 or isinstance(reply.body, bytes):
            return
        if any(k.lower() == "content-encoding" and v.lower() != "identity" for k, v in reply.headers):
            return  # an encoded body passes as it is: the .well-known document still tells clients
        stream = reply.body
        try:
            raw = await stream.read(MAX_CAPABILITY_BYTES)
        finally:
            await stream.close()
        seen, rewritten = self._last
        if raw != seen:
            rewritten = self._rewrite(raw)
            self._last = (raw, rewritten)
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        ex.reply = Reply(reply.status, headers, rewritten)

    def _rewrite(self, raw: bytes) -> bytes:
        try:
            statement = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError() from None
        if isinstance(statement, dict) and statement.get("resourceType") == "CapabilityStatement":
            for rest in statement.get("rest") or []:
                if isinstance(rest, dict) and rest.get("mode", "server") == "server":
                    rest["security"] = self.security
        return orjson.dumps(statement)
