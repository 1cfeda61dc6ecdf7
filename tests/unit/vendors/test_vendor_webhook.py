"""The incident webhook's signature scheme: HMAC-SHA256 over timestamp + body, a 5-minute window."""

from __future__ import annotations

import hashlib
import hmac

from phigate.vendors.webhook import REPLAY_WINDOW, forged, idempotency_problem, incident_id, signature, stale

SECRET = b"s" * 32
BODY = b'{"summary": "lost laptop"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1795000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1795000000", BODY) == "sha256=" + expected
    assert forged(SECRET, "1795000000", BODY, "sha256=" + expected) is None


def test_any_change_to_the_body_timestamp_secret_or_signature_is_refused() -> None:
    good = signature(SECRET, "1795000000", BODY)
    assert forged(SECRET, "1795000000", BODY + b" ", good) == "the signature does not match"
    assert forged(SECRET, "1795000001", BODY, good) is not None
    assert forged(b"t" * 32, "1795000000", BODY, good) is not None
    assert forged(SECRET, "1795000000", BODY, good.upper()) is not None
    assert forged(SECRET, "1795000000", BODY, "") is not None


def test_the_timestamp_must_be_within_five_minutes_either_way() -> None:
    now = 1_795_000_000.0
    assert REPLAY_WINDOW == 300
    assert stale(str(int(now) - 300), now) is None and stale(str(int(now) + 300), now) is None
    assert stale(str(int(now) - 301), now) is not None
    assert stale(str(int(now) + 301), now) is not None
    for malformed in ("", "-5", "1.5", "abc", "9" * 13):
        assert stale(malformed, now) == "the timestamp is not Unix seconds"


def test_one_idempotency_key_names_one_incident_per_vendor() -> None:
    assert incident_id("acme", "k-1") == incident_id("acme", "k-1")
    assert incident_id("acme", "k-1") != incident_id("acme", "k-2")
    assert incident_id("acme", "k-1") != incident_id("other", "k-1")
    assert idempotency_problem("k-1") is None
    for bad in ("", "x" * 129, "caf\u00e9", "a\nb"):
        assert idempotency_problem(bad) is not None
