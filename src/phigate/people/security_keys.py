"""A person's WebAuthn credentials (security keys, platform authenticators) as second factors.

A credential is its id (base64url, as the browser names it), the COSE public
key the authenticator made for this relying party, and the authenticator's
signature counter. The key material is public; what the store must keep safe
is the binding to the user and the counter, which only ever moves forward
(W3C WebAuthn Level 2, 7.2 step 21): a counter that does not may mean the
authenticator was cloned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from phigate.people.errors import UserError

MAX_NAME = 64
DEFAULT_NAME = "Security key"
MAX_CREDENTIAL_ID = 1366  # base64url of WebAuthn's 1023-byte limit on credential ids
TRANSPORTS = frozenset({"usb", "nfc", "ble", "internal", "hybrid", "cable", "smart-card"})


@dataclass(frozen=True, kw_only=True)
class SecurityKey:
    credential_id: str  # base64url without padding
    user_id: str
    public_key: bytes  # COSE_Key (RFC 9052), as the authenticator sent it
    sign_count: int
    name: str
    created_at: datetime
    transports: tuple[str, ...] = ()  # hints for the browser's prompt (usb, nfc, internal, ...)
    last_used_at: datetime | None = None


def key_name(value: str) -> str:
    """The name a person gave the key on the enrolment page (or the default), checked."""
    name = " ".join(value.split())
    if not name:
        return DEFAULT_NAME
    if len(name) > MAX_NAME or not name.isprintable():
        raise UserError("name", f"give at most {MAX_NAME} printable characters")
    return name


def known_transports(values: Iterable[str]) -> tuple[str, ...]:
    """The transports a browser reported that WebAuthn defines; anything else is dropped."""
    return tuple(sorted({value for value in values if value in TRANSPORTS}))


def counter_moved(stored: int, reported: int) -> bool:
    """The signature counter rule: it must grow, unless the authenticator keeps none (both zero)."""
    return reported > stored or (stored == 0 and reported == 0)
