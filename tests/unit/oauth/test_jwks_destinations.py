"""Which addresses the guarded JWKS fetcher may connect to (SSRF, ASVS 13.2.4)."""

from __future__ import annotations

import pytest

from phigate.proxy.fetch import destination_allowed

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "not-an-address",
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_global_destinations_are_refused(address: str) -> None:
    assert not destination_allowed(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_global_unicast_destinations_are_allowed(address: str) -> None:
    assert destination_allowed(address)


def test_loopback_mode_lets_through_exactly_the_two_loopback_addresses() -> None:
    assert destination_allowed("127.0.0.1", allow_loopback=True)
    assert destination_allowed("::1", allow_loopback=True)
    for address in ("127.0.0.2", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0"):
        assert not destination_allowed(address, allow_loopback=True)
    assert destination_allowed("8.8.8.8", allow_loopback=True)
