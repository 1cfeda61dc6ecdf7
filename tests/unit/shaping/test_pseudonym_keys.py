from __future__ import annotations

import pytest

from phigate.errors import KeyStoreError
from phigate.shaping.pseudonyms import PURPOSE, PseudonymKeys, hkdf_sha256


class MemorySecrets:
    """A SecretStore in a dict (encryption at rest is the SQL adapter's concern, tested there)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[bytes, str]] = {}
        self.puts = 0

    async def put(self, name: str, value: bytes, *, purpose: str) -> None:
        self.puts += 1
        self.values[name] = (value, purpose)

    async def get(self, name: str) -> bytes | None:
        found = self.values.get(name)
        return found[0] if found else None

    async def delete(self, name: str) -> bool:
        return self.values.pop(name, None) is not None

    async def names(self, purpose: str | None = None) -> list[str]:
        return sorted(n for n, (_, p) in self.values.items() if purpose is None or p == purpose)


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    okm = hkdf_sha256(bytes([0x0B] * 22), bytes(range(0xF0, 0xFA)), 42, salt=bytes(range(13)))
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


async def test_the_root_secret_is_made_once_and_every_node_reads_the_same() -> None:
    store = MemorySecrets()
    first, second = PseudonymKeys(), PseudonymKeys()
    await first.load(store)
    await second.load(store)
    assert store.puts == 1 and all(p == PURPOSE for _, p in store.values.values())
    assert first.for_vendor("v").pseudonym("x") == second.for_vendor("v").pseudonym("x")


async def test_two_roots_written_at_once_converge_on_the_smallest_name() -> None:
    store = MemorySecrets()
    await store.put("masking-root:bbbb", bytes([1]) * 32, purpose=PURPOSE)
    await store.put("masking-root:aaaa", bytes([2]) * 32, purpose=PURPOSE)
    keys = PseudonymKeys()
    await keys.load(store)
    assert keys.for_vendor("v").pseudonym("x") == PseudonymKeys.from_root(bytes([2]) * 32).for_vendor(
        "v"
    ).pseudonym("x")


def test_keys_that_were_not_loaded_refuse_rather_than_pass() -> None:
    with pytest.raises(KeyStoreError):
        PseudonymKeys().for_vendor("v")


def test_the_keys_never_show_in_a_repr() -> None:
    vendor = PseudonymKeys.from_root(bytes(range(32))).for_vendor("v")
    assert "b'" not in repr(vendor) and "v" in repr(vendor)
