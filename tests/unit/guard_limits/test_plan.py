"""The plan: which buckets a request spends from, at what cost; the token endpoint's claimed client."""

from __future__ import annotations

import base64
import json

from phigate.guard.limits import TrafficPlan
from phigate.guard.limits.token_attempts import claimed_client_id
from phigate.settings.traffic import TrafficSettings


def plan(**raw: object) -> TrafficPlan:
    return TrafficPlan.of(TrafficSettings.model_validate(raw))


def test_a_request_spends_from_its_client_vendor_interaction_and_global_buckets() -> None:
    p = plan(
        clients={"lab": {"rate_limit": "100/minute"}},
        vendors={"acme": {"rate_limit": "500/minute"}},
        interactions={"$export": {"rate_limit": "2/hour"}},
        **{"global": {"rate_limit": "1000/second"}},
    )
    checks = p.authenticated("lab", "acme", "operation", "export")
    assert [(c.subject, c.name, c.cost) for c in checks] == [
        ("client:lab", "rate", 10),
        ("vendor:acme", "rate", 10),
        ("client:lab", "$export", 1),  # an interaction's own limit counts its requests
        ("global", "rate", 10),
    ]
    assert checks[0].controlled and checks[1].controlled and not checks[3].controlled
    search = p.authenticated("lab", "acme", "search", None)
    assert [c.cost for c in search] == [2, 2, 2]


def test_a_client_without_a_rate_still_carries_the_control_point_but_counts_nothing() -> None:
    (check,) = plan().authenticated("other", "v", "read", None)
    assert check.controlled and check.bucket.unlimited and check.quota == 0


def test_the_default_client_entry_applies_to_clients_without_their_own() -> None:
    p = plan(default_client={"rate_limit": "10/second", "max_concurrent": 3})
    assert p.client("anyone").limit is not None
    assert p.client("anyone").concurrency is not None and p.client("anyone").concurrency.limit == 3


def _assertion(claims: dict[str, object]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzM4NCJ9.{part}.c2ln"


def test_the_claimed_client_comes_from_the_form_or_the_unverified_assertion() -> None:
    assert claimed_client_id({"client_id": "lab-1"}) == "lab-1"
    assert claimed_client_id({"client_assertion": _assertion({"sub": "lab-2", "iss": "lab-2"})}) == "lab-2"
    assert claimed_client_id({"client_assertion": "garbage"}) is None
    assert claimed_client_id({"client_assertion": _assertion({"sub": "x" * 300})}) is None
    assert claimed_client_id({"client_assertion": _assertion({"sub": ["a"]})}) is None
    assert claimed_client_id({}) is None
