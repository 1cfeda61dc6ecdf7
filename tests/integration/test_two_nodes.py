"""Two gateway nodes on the real PostgreSQL and Redis: one issuer, one replay cache, one revocation list."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import httpx
import pytest

from fixtures.gateway_stack import running_stack
from fixtures.postgres import throwaway_database
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
SCOPES = "system/Patient.r system/Observation.rs"


async def test_tokens_assertions_and_revocations_hold_across_nodes(tmp_path: Path) -> None:
    async with (
        throwaway_database() as url,
        running_stack(
            tmp_path, nodes=2, shared_state_url="redis://127.0.0.1:6379/0", storage={"url": url}
        ) as stack,
    ):
        creds = await stack.register("two-node-lab", SCOPES)
        first, second = stack.publics
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            form = {
                "grant_type": "client_credentials",
                "scope": SCOPES,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(creds),
            }
            issued = await http.post(first + "/oauth2/token", data=form)
            replayed = await http.post(second + "/oauth2/token", data=form)  # same jti, other node
            assert issued.status_code == 200, issued.text
            assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"

            token = issued.json()["access_token"]
            bearer = {"authorization": f"Bearer {token}"}
            on_second = await http.get(second + "/fhir/Patient/pat-canary", headers=bearer)
            assert on_second.status_code == 200, on_second.text  # issued by one node, accepted by the other

            revoke = {
                "token": token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(
                    {**creds, "token_endpoint": stack.node.endpoints.revocation}
                ),
            }
            assert (await http.post(first + "/oauth2/revoke", data=revoke)).status_code == 200
            revoked_at = time.monotonic()
            status = 200
            while time.monotonic() - revoked_at < 1.0:
                status = (await http.get(second + "/fhir/Patient/pat-canary", headers=bearer)).status_code
                if status == 401:
                    break
                await asyncio.sleep(0.05)
            assert status == 401, "the revocation did not reach the second node within a second"
