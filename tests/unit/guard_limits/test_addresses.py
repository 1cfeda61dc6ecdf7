"""Allowlists and the denylist over IPv4 and IPv6, and the client address behind trusted proxies."""

from __future__ import annotations

import pytest

from phigate.guard.limits import AddressRule
from phigate.pipeline.accept import client_address, forwarded_for


@pytest.mark.parametrize(
    ("address", "admitted"),
    [
        ("203.0.113.10", True),
        ("198.51.100.255", True),
        ("198.51.101.0", False),
        ("::ffff:198.51.100.7", True),  # IPv4 written as IPv6 meets the IPv4 rule
        ("2001:db8:1::5", True),
        ("2001:db9::1", False),
        ("[2001:db8::1]", True),
        ("203.0.113.11", False),
        ("not-an-address", False),
        ("", False),
    ],
)
def test_an_allowlist_admits_only_addresses_inside_it(address: str, admitted: bool) -> None:
    rule = AddressRule.of(["203.0.113.10/32", "198.51.100.0/24", "2001:db8::/32"])
    assert rule.admits(address) is admitted


def test_no_allowlist_admits_everyone_and_an_empty_one_no_one() -> None:
    assert AddressRule.of(None).admits("192.0.2.1") is True
    assert AddressRule.of([]).admits("192.0.2.1") is False
    assert AddressRule.of(None).contains("192.0.2.1") is False  # an absent denylist denies nothing


TRUSTED = ["10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize(
    ("peer", "header", "value", "expected"),
    [
        ("10.0.0.5", "x-forwarded-for", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.5", "x-forwarded-for", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # spoof left of ours
        ("10.0.0.5", "x-forwarded-for", "203.0.113.9, 10.0.0.7", "203.0.113.9"),  # two trusted hops
        ("192.0.2.50", "x-forwarded-for", "203.0.113.9", "192.0.2.50"),  # untrusted peer: header ignored
        ("10.0.0.5", "forwarded", "for=203.0.113.9;proto=https", "203.0.113.9"),
        ("10.0.0.5", "forwarded", 'for=198.51.100.1, for="[2001:db8::7]:4711"', "2001:db8::7"),
        ("10.0.0.5", "forwarded", "for=192.0.2.60:8080;by=10.0.0.5", "192.0.2.60"),
        ("10.0.0.5", "forwarded", "for=unknown", "10.0.0.5"),  # not an address: the peer, not a guess
        ("192.0.2.50", "forwarded", "for=203.0.113.9", "192.0.2.50"),
        ("fd00::1", "forwarded", 'for="[2001:db8::9]"', "2001:db8::9"),
    ],
)
def test_the_client_address_is_read_from_the_right_and_only_from_trusted_proxies(
    peer: str, header: str, value: str, expected: str
) -> None:
    assert client_address(TRUSTED, header)(peer, value) == expected


def test_forwarded_yields_its_for_nodes_in_order() -> None:
    assert (
        forwarded_for('for=192.0.2.43, for="[2001:db8:cafe::17]";proto=http')
        == "192.0.2.43, 2001:db8:cafe::17"
    )
    assert forwarded_for("proto=https;by=203.0.113.1") is None
    assert forwarded_for(None) is None
