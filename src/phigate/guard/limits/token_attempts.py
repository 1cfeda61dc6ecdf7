"""Who a token request claims to be, for counting its failures before anything is verified.

The client id is the form's ``client_id`` or else the ``sub`` of the client
assertion, read *unverified*: it only chooses which failure budget an attempt
spends, and a forged ``sub`` can spend no budget but that of the client it
names (which is what per-client brute-force protection is for). Pure.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_MAX_ASSERTION = 16 * 1024


def claimed_client_id(form: Mapping[str, str]) -> str | None:
    named = form.get("client_id")
    if named is not None:
        return named if _CLIENT_ID.fullmatch(named) else None
    assertion = form.get("client_assertion", "")
    if not assertion or len(assertion) > _MAX_ASSERTION or assertion.count(".") != 2:
        return None
    payload = assertion.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) and _CLIENT_ID.fullmatch(subject) else None
