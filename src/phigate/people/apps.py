"""Apps that people launch: OAuth clients (in the client registry) with registered redirect URIs.

RFC 6749 3.1.2 and RFC 9700 2.1: a redirect URI is compared to the registered
ones by exact string; it is absolute, ``https`` (plain ``http`` only to a
loopback host, for native apps and tests), without user info or fragment.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol
from urllib.parse import urlsplit

from phigate.people.errors import UserError

MAX_REDIRECT_URIS = 10
MAX_URI = 2000


class AppRegistry(Protocol):
    async def redirect_uris(self, client_id: str) -> tuple[str, ...]:
        """The client's registered redirect URIs; empty when it may not be launched by people."""
        ...

    async def register(self, client_id: str, redirect_uris: tuple[str, ...]) -> None:
        """Set the client's redirect URIs (the client must exist; each URI is checked)."""
        ...


def check_redirect_uris(uris: tuple[str, ...]) -> tuple[str, ...]:
    if not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        raise UserError("redirect_uris", f"give 1 to {MAX_REDIRECT_URIS} redirect URIs")
    return tuple(check_redirect_uri(uri) for uri in uris)


def check_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if len(uri) > MAX_URI or not parts.hostname or "@" in parts.netloc or parts.fragment or "#" in uri:
        raise UserError("redirect_uris", "must be an absolute URL without user info or fragment")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        raise UserError("redirect_uris", "must be https (http only to a loopback address)")
    return uri


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
