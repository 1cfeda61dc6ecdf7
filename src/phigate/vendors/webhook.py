"""Signed incident reports from vendors: the signature scheme and its checks (pure: ``now`` is passed in).

A vendor signs ``<timestamp>.<body>`` with HMAC-SHA256 under its own webhook
secret and sends::

    X-Phigate-Vendor: acme-labs
    X-Phigate-Timestamp: 1795000000          (Unix seconds)
    X-Phigate-Signature: sha256=<hex digest>
    Idempotency-Key: <1-128 printable ASCII characters, unique per incident>

The timestamp must lie within :data:`REPLAY_WINDOW` of the gateway's clock, so a
captured request cannot be replayed later; inside the window a replay carries
the same idempotency key and records nothing new. Each check returns the reason
it failed (safe: it names the check, never the values) or ``None``.
"""

from __future__ import annotations

import hashlib
import hmac

REPLAY_WINDOW = 300  # seconds either side of the gateway's clock
PREFIX = "sha256="
_KEY_MAX = 128


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def stale(timestamp: str, now: float) -> str | None:
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "the timestamp is not Unix seconds"
    if abs(now - int(timestamp)) > REPLAY_WINDOW:
        return f"the timestamp is more than {REPLAY_WINDOW} seconds from the gateway's clock"
    return None


def forged(secret: bytes, timestamp: str, body: bytes, given: str) -> str | None:
    expected = signature(secret, timestamp, body).encode("ascii")
    if not hmac.compare_digest(expected, given.encode("utf-8", "replace")):
        return "the signature does not match"
    return None


def idempotency_problem(key: str) -> str | None:
    if not 1 <= len(key) <= _KEY_MAX or not key.isascii() or not key.isprintable():
        return f"the Idempotency-Key header must hold 1 to {_KEY_MAX} printable ASCII characters"
    return None


def incident_id(vendor_id: str, key: str) -> str:
    """The incident a report's idempotency key names: the same report twice is one incident."""
    return "wh-" + hashlib.sha256(f"{vendor_id}\n{key}".encode()).hexdigest()[:24]
