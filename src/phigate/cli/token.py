"""``phigate token``: the SMART Backend Services flow for one client, from its credentials file.

Signs a client assertion with the client's private key, posts it to the token
endpoint, prints the access token (or the whole response with ``--json``), so a
third party's developer can call the API in one command.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer

from phigate.cli.output import emit, fail
from phigate.oauth.jose import sign_jwt
from phigate.oauth.rfc7523 import ASSERTION_TYPE

ASSERTION_LIFETIME = 240  # seconds; SMART allows at most 300


def token(
    credentials: Annotated[Path, typer.Option("--credentials", help="The client's credentials JSON file.")],
    scope: Annotated[str | None, typer.Option(help="Scopes to ask for (default: all registered).")] = None,
    cacert: Annotated[Path | None, typer.Option(help="CA file that signs the gateway's certificate.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole token response as JSON.")] = False,
) -> None:
    """Get an access token for a client (client_credentials with private_key_jwt)."""
    document = _credentials(credentials)
    form = {
        "grant_type": "client_credentials",
        "scope": scope or document["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(document),
    }
    status, reply = asyncio.run(_post(document["token_endpoint"], form, cacert))
    if status != 200 or "access_token" not in reply:
        fail(
            f"the token endpoint refused: {reply.get('error', status)}: {reply.get('error_description', '')}"
        )
    emit(reply, as_json, lambda r: str(r["access_token"]))


def client_assertion(document: dict[str, Any], now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": document["client_id"],
        "sub": document["client_id"],
        "aud": document["token_endpoint"],
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }
    return sign_jwt(claims, document["private_jwk"], typ="JWT")


def _credentials(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{path}: cannot be read ({exc.strerror})")
    except ValueError:
        fail(f"{path}: not valid JSON")
    missing = [k for k in ("client_id", "private_jwk", "token_endpoint", "scopes") if k not in document]
    if missing:
        fail(f"{path}: missing {', '.join(missing)}")
    return dict(document)


async def _post(url: str, form: dict[str, str], cacert: Path | None) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(cacert) if cacert else None)
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=form, ssl=context) as r,
        ):
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = {}
            return r.status, body if isinstance(body, dict) else {}
    except aiohttp.ClientError as exc:
        fail(f"cannot reach the token endpoint ({type(exc).__name__})")
