"""The admin API's EHR launch route (``POST /admin/launches``), behind the admin bearer secret.

Served behind the admin bearer secret or the EHR's launch-only secret
(``admin_api.launch_token_file``/``launch_token_env``), which opens nothing else.
Body: ``{"client_id", "patient", "encounter"?, "user"?, "fhir_base"?}``; answer
201 ``{"launch", "iss", "client_id", "expires_in"}`` for the EHR to open the app
with (:mod:`phigate.oauth.smart.ehr_launch`). The launch value is a credential
for the context: ``cache-control: no-store``, never logged.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from phigate.asgi.admin_vendors import guarded, json_body, text_field
from phigate.oauth.smart.ehr_launch import EhrLaunches


def launch_routes(launches: EhrLaunches, *tokens: str) -> list[BaseRoute]:
    async def create(request: Request) -> Response:
        document = await json_body(request)
        made = await launches.start(
            text_field(document, "client_id") or "",
            text_field(document, "patient") or "",
            encounter=text_field(document, "encounter", required=False),
            username=text_field(document, "user", required=False),
            fhir_base=text_field(document, "fhir_base", required=False),
        )
        return JSONResponse(made, status_code=201, headers={"cache-control": "no-store"})

    return [Route("/admin/launches", guarded(tokens[0], create, *tokens[1:]), methods=["POST"])]
