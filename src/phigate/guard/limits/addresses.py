"""IP rules: allowlists (per client, per vendor) and the global denylist, IPv4 and IPv6.

Addresses are compared as parsed values, so ``::ffff:203.0.113.9`` (an IPv4
address written as IPv6) meets the IPv4 rules, and a text that is not an
address matches no allowlist. Pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class AddressRule:
    """A set of networks; ``None`` networks means "no rule" (every address matches)."""

    networks: tuple[Network, ...] | None

    @classmethod
    def of(cls, cidrs: Iterable[str] | None) -> AddressRule:
        if cidrs is None:
            return cls(None)
        return cls(tuple(ipaddress.ip_network(c, strict=True) for c in cidrs))

    @property
    def configured(self) -> bool:
        return self.networks is not None

    def contains(self, text: str) -> bool:
        """Whether ``text`` is an address inside one of the networks (False for no rule)."""
        if not self.networks:
            return False
        address = parse_address(text)
        return address is not None and any(address in net for net in self.networks)

    def admits(self, text: str) -> bool:
        """An allowlist's answer: True without a rule, else only for an address inside it."""
        return self.networks is None or self.contains(text)
