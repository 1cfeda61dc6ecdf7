"""RFC 9449: OAuth 2.0 Demonstrating Proof of Possession (DPoP).

A client proves, on every request, that it holds the private key whose
thumbprint (``jkt``) is bound into its access token (``cnf.jkt``). This package
checks one proof; binding the returned ``jkt`` to the token is the caller's step.
"""

from __future__ import annotations

from phigate.oauth.rfc9449.proof import (
    DPOP_ALGORITHMS,
    DpopNonceRequired,
    DpopProofError,
    FirstUse,
    access_token_hash,
    normalise_htu,
    verify_dpop_proof,
)

__all__ = [
    "DPOP_ALGORITHMS",
    "DpopNonceRequired",
    "DpopProofError",
    "FirstUse",
    "access_token_hash",
    "normalise_htu",
    "verify_dpop_proof",
]
