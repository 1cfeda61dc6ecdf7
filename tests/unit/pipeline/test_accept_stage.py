from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from phigate.errors import HeadersTooLarge, PayloadTooLarge, RequestError, UriTooLong
from phigate.exchange import Exchange
from phigate.pipeline.accept import Accept, client_ip, new_request_id
from phigate.settings import RequestLimits

LB = [ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: its header is ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # a client-written hop stays left
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", "198.51.100.1"),  # chained trusted proxies
        ("10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),
    ],
)
def test_client_ip_believes_only_trusted_proxies(peer: str, xff: str | None, expected: str) -> None:
    assert client_ip(peer, xff, LB) == expected


def test_no_trusted_proxy_means_the_socket_peer() -> None:
    assert client_ip("10.0.0.2", "198.51.100.1", []) == "10.0.0.2"


def test_request_id_kept_when_well_formed_else_replaced() -> None:
    assert new_request_id("abcdef12-3456") == "abcdef12-3456"
    for bad in (None, "short", "x" * 65, "evil\r\ninjected-header", "a b c d e f g h"):
        rid = new_request_id(bad)
        assert rid != bad and len(rid) == 32 and rid.isalnum()


async def test_limits(make_exchange: Callable[..., Exchange]) -> None:
    accept = Accept(RequestLimits(max_url_bytes=256, max_header_bytes=1024, max_body_bytes=2048), ())
    await accept(make_exchange())
    with pytest.raises(UriTooLong):
        await accept(make_exchange(query="a=" + "x" * 300))
    with pytest.raises(HeadersTooLarge):
        await accept(make_exchange(headers=[("x-big", "y" * 2000)]))
    with pytest.raises(PayloadTooLarge):
        await accept(make_exchange(method="POST", headers=[("content-length", "4096")]))
    with pytest.raises(RequestError):
        await accept(make_exchange(method="POST", headers=[("content-length", "-1")]))


async def test_too_many_header_fields(make_exchange: Callable[..., Exchange]) -> None:
    accept = Accept(RequestLimits(max_header_count=10), ())
    await accept(make_exchange(headers=[(f"x-h{i}", "1") for i in range(10)]))
    with pytest.raises(HeadersTooLarge):
        await accept(make_exchange(headers=[(f"x-h{i}", "1") for i in range(11)]))


def test_a_route_can_have_its_own_input_rules() -> None:
    from phigate.pipeline.validate import guard_config
    from phigate.settings import parse_settings

    settings = parse_settings(
        {
            "environment": "dev",
            "listeners": {
                "public": {"port": 8443, "plain_http": True},
                "admin": {"port": 9443, "plain_http": True},
            },
            "upstreams": {"ehr": {"targets": [{"url": "https://ehr.example/fhir"}]}},
            "routes": [
                {"base": "/fhir", "upstream": "ehr"},
                {
                    "base": "/fhir-internal",
                    "upstream": "ehr",
                    "validation": {"inspection": "report", "max_count": 500},
                },
            ],
            "validation": {"inspection": "block"},
            "master_key": {"env": "MK"},
        }
    )
    assert guard_config(settings, "/fhir").inspection == "block"
    internal = guard_config(settings, "/fhir-internal")
    assert (
        internal.inspection == "report"
        and internal.search.max_count == 500
        and internal.base == "/fhir-internal"
    )
