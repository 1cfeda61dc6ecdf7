"""A client publishing its keys at a registered JWKS URL: fetched with SSRF guards, rotated by new kids."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from fixtures.gateway_stack import Stack, free_port, running_stack
from phigate.adapters.pki import ensure_dev_pki
from phigate.cli.client_registration import register_client_with_keys
from phigate.cli.token import client_assertion
from phigate.cli.vendor_registry import register_vendor
from phigate.oauth.jose import generate_client_key
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId

PUBLISHED = web.AppKey("published", list)
FETCHES = web.AppKey("fetches", list)


@pytest.fixture
async def jwks_server(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    pki = ensure_dev_pki(tmp_path / "pki")
    app = web.Application()
    app[PUBLISHED] = []
    app[FETCHES] = []

    async def jwks(_: web.Request) -> web.Response:
        app[FETCHES].append(time.monotonic())
        return web.json_response({"keys": app[PUBLISHED]})

    app.router.add_get("/lab/jwks.json", jwks)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    yield f"https://127.0.0.1:{port}/lab/jwks.json", app
    await runner.cleanup()


@pytest.fixture
async def stack(tmp_path: Path, jwks_server: tuple[str, web.Application]) -> AsyncIterator[Stack]:
    oauth = {"allow_loopback_jwks": True, "fetch_ca_file": str(tmp_path / "pki" / "ca.crt")}
    async with running_stack(tmp_path, environment="dev", oauth=oauth) as running:
        yield running


async def request_token(stack: Stack, creds: dict[str, Any]) -> httpx.Response:
    form = {"grant_type": "client_credentials", "scope": "system/Patient.r",
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(creds)}  # fmt: skip
    verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
    async with httpx.AsyncClient(verify=verify, timeout=15) as http:
        return await http.post(stack.node.endpoints.token, data=form)


async def test_keys_come_from_the_registered_url_and_a_new_kid_is_picked_up(
    stack: Stack, jwks_server: tuple[str, web.Application]
) -> None:
    url, app = jwks_server
    first_private, first_public = generate_client_key("ES384")
    app[PUBLISHED][:] = [first_public]
    db = stack.node.services.db
    await register_vendor(db, "URL Lab", "url-lab")
    await register_client_with_keys(
        db,
        stack.settings,
        VendorId("url-lab"),
        "url lab",
        "system/Patient.r",
        jwks_uri=url,
        client_id="url-lab",
    )
    creds = {
        "client_id": "url-lab",
        "token_endpoint": stack.node.endpoints.token,
        "private_jwk": first_private,
    }
    assert (await request_token(stack, creds)).status_code == 200

    # The third party rotates: publishes a new key, signs with it; the gateway refreshes on the unknown kid.
    second_private, second_public = generate_client_key("ES384")
    app[PUBLISHED][:] = [second_public]
    stack.node.authorization_server.authenticator.keys.refresh_floor = 0  # the test cannot wait 30 s
    assert (await request_token(stack, {**creds, "private_jwk": second_private})).status_code == 200
    # The retired key no longer works once the gateway holds the new set.
    assert (await request_token(stack, creds)).status_code == 401


async def test_made_up_kids_do_not_become_a_flood_of_fetches(
    stack: Stack, jwks_server: tuple[str, web.Application]
) -> None:
    url, app = jwks_server
    private, public = generate_client_key("ES384")
    app[PUBLISHED][:] = [public]
    db = stack.node.services.db
    await register_vendor(db, "URL Lab", "url-lab")
    await register_client_with_keys(
        db,
        stack.settings,
        VendorId("url-lab"),
        "url lab",
        "system/Patient.r",
        jwks_uri=url,
        client_id="url-lab",
    )
    creds = {"client_id": "url-lab", "token_endpoint": stack.node.endpoints.token, "private_jwk": private}
    assert (await request_token(stack, creds)).status_code == 200
    for n in range(20):
        forged = {**creds, "private_jwk": {**generate_client_key("ES384")[0], "kid": f"made-up-{n}"}}
        assert (await request_token(stack, forged)).status_code in (401, 429)  # refused, or throttled
    assert len(app[FETCHES]) <= 2  # the first fetch, and at most one refresh in the refresh floor
