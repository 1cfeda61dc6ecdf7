"""Passwords: argon2id hashes (RFC 9106), NIST SP 800-63B length rules, equal work for unknown users.

:func:`verify` always runs one argon2 verification, also when there is no user
(:data:`DUMMY_HASH`), so the time a sign-in takes does not tell whether the
username exists (ASVS 6.3.8).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from phigate.people.errors import UserError

MIN_LENGTH = 8  # NIST SP 800-63B 5.1.1.2: at least 8 characters
MAX_LENGTH = 128  # long passphrases allowed; a bound keeps hashing cost fixed

_HASHER = PasswordHasher()  # argon2id, RFC 9106 second recommended parameter set
DUMMY_HASH = _HASHER.hash("phigate-no-such-user")


def hash_password(password: str) -> str:
    check_password(password)
    return _HASHER.hash(password)


def check_password(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise UserError("password", f"use {MIN_LENGTH} to {MAX_LENGTH} characters")


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; the same argon2 work when there is no hash."""
    try:
        return _HASHER.verify(stored_hash or DUMMY_HASH, password[:MAX_LENGTH]) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
