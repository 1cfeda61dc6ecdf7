"""In-process shared state: expiry by an injected clock, and the choice of backend by URL."""

from __future__ import annotations

import pytest

from phigate.adapters.memory import (
    ExpiringKeys,
    MemoryReplayCache,
    MemoryRevocationList,
    MemorySharedState,
)
from phigate.adapters.shared_state import open_shared_state
from phigate.errors import ConfigError, SharedStateUnavailable, StorageError
from phigate.fhir.outcome import outcome_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_key_lives_until_its_expiry_and_not_a_moment_longer(clock: FakeClock) -> None:
    keys = ExpiringKeys(clock)
    keys.add("a", 1_010.0)

    clock.now = 1_009.999
    assert keys.live("a") is True
    clock.now = 1_010.0
    assert keys.live("a") is False


def test_a_later_expiry_wins_and_an_earlier_one_is_ignored(clock: FakeClock) -> None:
    keys = ExpiringKeys(clock)
    keys.add("a", 1_010.0)
    keys.add("a", 1_020.0)
    keys.add("a", 1_005.0)

    clock.now = 1_015.0
    keys.sweep()  # the heap's stale 1_010 entry must not remove the renewed key
    assert keys.live("a") is True
    clock.now = 1_020.0
    assert keys.live("a") is False


def test_sweeping_forgets_only_expired_keys(clock: FakeClock) -> None:
    keys = ExpiringKeys(clock)
    keys.merge([("a", 1_001.0), ("b", 1_002.0), ("c", 1_100.0)])
    assert len(keys) == 3

    clock.now = 1_050.0
    keys.sweep()

    assert len(keys) == 1
    assert keys.items() == [("c", 1_100.0)]


def test_claim_adds_a_key_only_when_it_is_not_live(clock: FakeClock) -> None:
    keys = ExpiringKeys(clock)

    assert keys.claim("a", 1_010.0) is True
    assert keys.claim("a", 1_020.0) is False
    assert keys.claim("expired", 999.0) is False
    clock.now = 1_010.0
    assert keys.claim("a", 1_030.0) is True


async def test_the_replay_cache_forgets_a_key_at_its_expiry(clock: FakeClock) -> None:
    cache = MemoryReplayCache(clock)

    assert await cache.first_use("assertion:c:j", 1_060.0) is True
    clock.now = 1_059.0
    assert await cache.first_use("assertion:c:j", 1_120.0) is False
    clock.now = 1_060.0
    assert await cache.first_use("assertion:c:j", 1_120.0) is True


async def test_a_revocation_for_an_expired_token_changes_nothing(clock: FakeClock) -> None:
    revocations = MemoryRevocationList(clock)

    await revocations.revoke("old", 900.0)

    assert revocations.is_revoked("old") is False


async def test_memory_shared_state_is_always_connected(clock: FakeClock) -> None:
    state = open_shared_state("memory://", clock=clock)
    assert isinstance(state, MemorySharedState)
    await state.start()

    await state.revocations.revoke("t", 1_010.0)

    assert state.label == "memory"
    assert state.connected and state.revocations.connected
    assert state.revocations.is_revoked("t") is True
    await state.close()


@pytest.mark.parametrize(
    "url", ["memcached://127.0.0.1:11211", "memory", "redis:127.0.0.1", "", "https://u:s3cret@example.org"]
)
def test_an_unknown_scheme_is_a_config_error_naming_the_key(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        open_shared_state(url)

    assert raised.value.problems == ["shared_state.url: must start with memory://, redis:// or rediss://"]
    assert "s3cret" not in str(raised.value)


def test_unavailable_shared_state_renders_as_a_transient_503() -> None:
    error = SharedStateUnavailable()
    outcome = outcome_for(error)

    assert isinstance(error, StorageError)
    assert error.status == 503
    assert outcome["issue"][0]["code"] == "transient"
    assert "redis" not in str(outcome).lower()
