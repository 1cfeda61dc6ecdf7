"""The Redis shared state adapter: URL handling, key layout, bounded failure when Redis is absent."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time

import pytest
from redis.asyncio import Redis

from phigate.adapters.redis import RedisKeys, RedisSharedState, open_redis_shared_state
from phigate.adapters.shared_state import open_shared_state
from phigate.errors import ConfigError, SharedStateUnavailable
from phigate.settings import parse_settings, resolve


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_settings_url_selects_redis_without_connecting() -> None:
    raw = {
        "environment": "dev",
        "upstreams": {"ehr": {"targets": [{"url": "http://127.0.0.1:8080/fhir"}]}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "master_key": {"env": "PHIGATE_MASTER_KEY"},
        "shared_state": {"url_secret": {"env": "PHIGATE_REDIS_URL"}},
    }
    resolved = resolve(
        parse_settings(raw),
        environ={
            "PHIGATE_MASTER_KEY": "k" * 44,
            "PHIGATE_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/3",
        },
    )

    state = open_shared_state(resolved.shared_state_url.get_secret_value())

    assert isinstance(state, RedisSharedState)
    assert state.label == "Redis"
    assert state.connected is False  # nothing is connected before start()
    await state.close()


@pytest.mark.parametrize("url", ["redis://:s3cret@127.0.0.1:port/0", "redis://127.0.0.1:6379/0?bogus=s3cret"])
def test_a_malformed_redis_url_is_a_config_error_that_hides_the_url(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        open_shared_state(url)

    assert raised.value.problems == ["shared_state.url: is not a valid Redis URL"]
    assert "s3cret" not in str(raised.value)


def test_keys_are_namespaced_and_each_command_touches_one_key() -> None:
    keys = RedisKeys("tenant-a")

    assert keys.replay("dpop:jkt:{x}") == "tenant-a:replay:dpop:jkt:{x}"
    assert keys.revocations == "tenant-a:revoked"
    assert keys.revocation_channel == "tenant-a:revoked"
    assert keys.pattern == "tenant-a:*"


@pytest.mark.parametrize("namespace", ["", "{phigate}", "a*", "two words"])
def test_a_namespace_that_would_break_the_layout_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        RedisKeys(namespace)


async def test_a_node_does_not_start_without_its_revocations() -> None:
    state = open_redis_shared_state(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.5)

    with pytest.raises(SharedStateUnavailable):
        async with asyncio.timeout(5):
            await state.start()

    assert state.connected is False


async def test_every_call_fails_fast_and_revocations_stay_local_when_redis_is_absent() -> None:
    state = open_redis_shared_state(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.5)
    try:
        with pytest.raises(SharedStateUnavailable):
            async with asyncio.timeout(5):
                await state.replay_cache.first_use("assertion:c:j", time.time() + 60)
        with pytest.raises(SharedStateUnavailable):
            async with asyncio.timeout(5):
                await state.revocations.revoke("token-a", time.time() + 60)

        assert state.revocations.is_revoked("token-a") is True  # refused here even though unconfirmed
    finally:
        await state.close()


@pytest.mark.redis
async def test_a_foreign_message_on_the_channel_is_ignored() -> None:
    namespace = f"phigate-test-{secrets.token_hex(6)}"
    state = open_redis_shared_state("redis://127.0.0.1:6379/0", namespace=namespace)
    publisher = Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=5, decode_responses=True)
    await state.start()
    try:
        channel = state.keys.revocation_channel
        for junk in ("no-stamp-here", "12.5", f"{time.time() + 60!r} ", "inf-ish token-x"):
            await publisher.publish(channel, junk)
        await publisher.publish(channel, f"{time.time() + 60!r} token with spaces")

        for _ in range(200):  # at most 2 s
            if state.revocations.is_revoked("token with spaces"):
                break
            await asyncio.sleep(0.01)

        assert state.revocations.is_revoked("token with spaces") is True
        assert state.revocations.is_revoked("token-x") is False
        assert state.connected is True
    finally:
        await state.close()
        await publisher.delete(state.keys.revocations)
        await publisher.aclose()
