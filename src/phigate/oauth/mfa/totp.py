"""RFC 6238 time-based one-time passwords, 6 digits every 30 seconds, and single-use recovery codes.

A code is accepted for the current step or one step either side (clock drift),
and only for a step later than every step the user used before: the store's
``claim_totp_step`` makes that atomic across nodes, so a code is usable once
(NIST SP 800-63B 5.1.4.2; ASVS 6.5.1). Recovery codes are 80-bit random
look-up secrets; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp

STEP = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read from paper


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code equals ``code`` (within the drift window), or ``None``."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = int(now // STEP)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, so the time taken does not depend on which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def code_at(secret: str, now: float) -> str:
    """The code for ``now`` (for enrolment checks in tests and the demo)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(int(now))


def new_recovery_codes() -> tuple[str, ...]:
    return tuple(_recovery_code() for _ in range(RECOVERY_CODES))


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def recovery_hash(code: str) -> str:
    normalised = code.strip().upper().replace(" ", "").replace("-", "")
    return hashlib.sha256(normalised.encode("utf-8", "replace")).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    return len(code.strip().replace("-", "").replace(" ", "")) == 16
