"""RFC 8705: mutual-TLS certificate-bound access tokens.

A token issued to a client that authenticated with a TLS client certificate
carries ``cnf: {"x5t#S256": <thumbprint>}``; the resource server accepts it only
on a connection presenting the same certificate. The thumbprint is the
base64url SHA-256 of the certificate's DER bytes (RFC 8705 3.1), so no X.509
parsing is needed here: the TLS layer already verified the certificate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from phigate.oauth.jose import TokenError

CONFIRMATION_MEMBER = "x5t#S256"
_DER_SEQUENCE = 0x30


def certificate_thumbprint(der: bytes) -> str:
    """The ``x5t#S256`` of a DER certificate; ``ValueError`` for a PEM or empty input.

    A PEM would hash to a different value than the same certificate in DER, and
    silently never match, so it is refused loudly.
    """
    if not der or der[0] != _DER_SEQUENCE:
        raise ValueError("the certificate must be DER bytes (as ssl.SSLObject.getpeercert(True) returns)")
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def confirmation(der: bytes) -> dict[str, str]:
    """The ``cnf`` claim binding a token to this client certificate."""
    return {CONFIRMATION_MEMBER: certificate_thumbprint(der)}


def check_certificate_binding(claims: Mapping[str, Any], der: bytes | None) -> None:
    """Accept a certificate-bound token only over a connection with that certificate.

    Raises :class:`TokenError` when the token is bound (``cnf.x5t#S256``) and the
    connection presented no certificate or another one. An unbound token passes:
    whether a client *must* use bound tokens is policy, decided by the caller.
    """
    cnf = claims.get("cnf")
    bound = cnf.get(CONFIRMATION_MEMBER) if isinstance(cnf, Mapping) else None
    if bound is None:
        return
    if not isinstance(bound, str) or der is None:
        raise TokenError("mtls.certificate_missing")
    try:
        presented = certificate_thumbprint(der)
    except ValueError:
        raise TokenError("mtls.certificate_invalid") from None
    if not hmac.compare_digest(bound.encode("ascii", "replace"), presented.encode("ascii")):
        raise TokenError("mtls.certificate_mismatch")
