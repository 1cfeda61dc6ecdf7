"""One contract for shared state (replay cache, revocation list), run in-process and on Redis.

Each Redis test works in its own key namespace (and deletes it after), so
parallel runs and leftovers never collide. Cross-node tests open several
independent adapters ("nodes") against one Redis; the outage test runs its own
throwaway redis-server on a free port so it can kill and restart it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from fixtures.redis_server import RedisServer
from phigate.adapters.redis import open_redis_shared_state
from phigate.adapters.shared_state import open_shared_state
from phigate.errors import SharedStateUnavailable
from phigate.ports import SharedState

REDIS_URL = "redis://127.0.0.1:6379/0"
MINUTE = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """Opens nodes of one shared state and lets time pass (a fake clock in memory, real time on Redis)."""

    name: str
    clock: Callable[[], float]
    advance: Callable[[float], Awaitable[None]]
    open: Callable[[], SharedState]
    nodes: list[SharedState] = field(default_factory=list)

    async def node(self) -> SharedState:
        state = self.open()
        await state.start()
        self.nodes.append(state)
        return state


async def _delete_namespace(url: str, namespace: str) -> None:
    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _memory_backend() -> Backend:
    clock = FakeClock()

    async def advance(seconds: float) -> None:
        clock.now += seconds

    return Backend("memory", clock, advance, lambda: open_shared_state("memory://", clock=clock))


def _redis_backend(
    url: str,
    namespace: str,
    *,
    timeout: float = 1.0,
    heartbeat: float = 2.0,
    max_reconnect_delay: float = 2.0,
) -> Backend:
    def open_node() -> SharedState:
        return open_redis_shared_state(
            url,
            namespace=namespace,
            timeout=timeout,
            heartbeat=heartbeat,
            max_reconnect_delay=max_reconnect_delay,
        )

    return Backend("redis", time.time, asyncio.sleep, open_node)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    namespace = f"phigate-test-{secrets.token_hex(6)}"
    chosen = _memory_backend() if request.param == "memory" else _redis_backend(REDIS_URL, namespace)
    try:
        yield chosen
    finally:
        for state in chosen.nodes:
            await state.close()
        if request.param == "redis":
            await _delete_namespace(REDIS_URL, namespace)


@pytest.fixture
async def redis_backend() -> AsyncIterator[Backend]:
    namespace = f"phigate-test-{secrets.token_hex(6)}"
    chosen = _redis_backend(REDIS_URL, namespace)
    try:
        yield chosen
    finally:
        for state in chosen.nodes:
            await state.close()
        await _delete_namespace(REDIS_URL, namespace)


async def _eventually(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.01)
    return check()


# --- every backend -----------------------------------------------------------------------------


async def test_a_key_is_first_used_once_then_again_after_it_expires(backend: Backend) -> None:
    cache = (await backend.node()).replay_cache
    expires_at = backend.clock() + 0.3

    assert await cache.first_use("assertion:lab-1:jti-1", expires_at) is True
    assert await cache.first_use("assertion:lab-1:jti-1", expires_at) is False
    assert await cache.first_use("assertion:lab-1:jti-1", expires_at + MINUTE) is False

    await backend.advance(0.5)
    assert await cache.first_use("assertion:lab-1:jti-1", backend.clock() + MINUTE) is True


async def test_keys_are_independent(backend: Backend) -> None:
    cache = (await backend.node()).replay_cache
    expires_at = backend.clock() + MINUTE

    assert await cache.first_use("assertion:lab-1:jti-1", expires_at) is True
    assert await cache.first_use("assertion:lab-2:jti-1", expires_at) is True
    assert await cache.first_use("dpop:thumbprint:jti-1", expires_at) is True


async def test_an_already_expired_key_is_never_first(backend: Backend) -> None:
    cache = (await backend.node()).replay_cache

    assert await cache.first_use("dpop:jkt:old", backend.clock() - 1) is False
    assert await cache.first_use("dpop:jkt:old", backend.clock()) is False


async def test_concurrent_first_use_of_one_key_lets_exactly_one_through(backend: Backend) -> None:
    cache = (await backend.node()).replay_cache
    expires_at = backend.clock() + MINUTE

    results = await asyncio.gather(*(cache.first_use("dpop:jkt:race", expires_at) for _ in range(50)))

    assert results.count(True) == 1


async def test_a_revoked_token_is_refused_until_it_expires(backend: Backend) -> None:
    state = await backend.node()
    revocations = state.revocations
    assert state.connected and revocations.connected

    await revocations.revoke("token-a", backend.clock() + 0.3)

    assert revocations.is_revoked("token-a") is True
    assert revocations.is_revoked("token-b") is False
    await backend.advance(0.5)
    assert revocations.is_revoked("token-a") is False


async def test_revoking_again_never_shortens_a_revocation(backend: Backend) -> None:
    revocations = (await backend.node()).revocations

    await revocations.revoke("token-a", backend.clock() + MINUTE)
    await revocations.revoke("token-a", backend.clock() + 0.2)
    await backend.advance(0.4)

    assert revocations.is_revoked("token-a") is True


# --- several nodes on one Redis ----------------------------------------------------------------


@pytest.mark.redis
async def test_a_jti_used_at_one_node_is_refused_at_another(redis_backend: Backend) -> None:
    first, second = await redis_backend.node(), await redis_backend.node()
    expires_at = time.time() + MINUTE

    assert await first.replay_cache.first_use("assertion:lab-1:jti-1", expires_at) is True
    assert await second.replay_cache.first_use("assertion:lab-1:jti-1", expires_at) is False


@pytest.mark.redis
async def test_concurrent_first_use_across_nodes_lets_exactly_one_through(redis_backend: Backend) -> None:
    nodes = [await redis_backend.node() for _ in range(3)]
    expires_at = time.time() + MINUTE

    results = await asyncio.gather(
        *(node.replay_cache.first_use("dpop:jkt:race", expires_at) for node in nodes for _ in range(20))
    )

    assert results.count(True) == 1


@pytest.mark.redis
async def test_a_revocation_reaches_every_node_within_a_second(redis_backend: Backend) -> None:
    issuer, other = await redis_backend.node(), await redis_backend.node()
    assert other.revocations.is_revoked("token-a") is False

    await issuer.revocations.revoke("token-a", time.time() + MINUTE)

    assert await _eventually(lambda: other.revocations.is_revoked("token-a"), within=1.0)


@pytest.mark.redis
async def test_a_node_that_starts_later_loads_the_live_revocations(redis_backend: Backend) -> None:
    issuer = await redis_backend.node()
    await issuer.revocations.revoke("token-long", time.time() + MINUTE)
    await issuer.revocations.revoke("token-short", time.time() + 0.2)
    await asyncio.sleep(0.4)

    late = await redis_backend.node()

    assert late.revocations.is_revoked("token-long") is True
    assert late.revocations.is_revoked("token-short") is False
    assert issuer.revocations.is_revoked("token-short") is False


# --- an outage of Redis ------------------------------------------------------------------------


@pytest.mark.redis
async def test_nodes_ride_out_a_redis_outage_and_recover_by_themselves(redis_server: RedisServer) -> None:
    backend = _redis_backend(redis_server.url, "phigate", timeout=0.5, heartbeat=0.5, max_reconnect_delay=0.3)
    issuer, other = await backend.node(), await backend.node()
    try:
        await issuer.revocations.revoke("token-before", time.time() + MINUTE)
        assert await _eventually(lambda: other.revocations.is_revoked("token-before"), within=1.0)

        with capture_logs() as logs:
            await redis_server.kill()

            for _ in range(5):  # fails fast and bounded, every time
                with pytest.raises(SharedStateUnavailable) as raised:
                    async with asyncio.timeout(3):
                        await issuer.replay_cache.first_use("dpop:jkt:jti-x", time.time() + MINUTE)
                assert raised.value.status == 503
            assert await _eventually(lambda: not issuer.connected and not other.connected, within=5.0)
            assert issuer.revocations.is_revoked("token-before") is True
            assert other.revocations.is_revoked("token-before") is True

            with pytest.raises(SharedStateUnavailable):
                async with asyncio.timeout(3):
                    await issuer.revocations.revoke("token-during", time.time() + MINUTE)
            assert issuer.revocations.is_revoked("token-during") is True  # refused here at once

            await asyncio.sleep(1.0)  # several reconnect attempts fail meanwhile
            await redis_server.start()  # empty: it kept nothing
            assert await _eventually(lambda: issuer.connected and other.connected, within=10.0)

        outages = [entry for entry in logs if entry["event"] == "shared_state.unavailable"]
        assert len(outages) == 2, logs  # once per node, not per failed call or reconnect attempt
        assert sum(entry["event"] == "shared_state.recovered" for entry in logs) == 2

        expires_at = time.time() + MINUTE
        assert await issuer.replay_cache.first_use("dpop:jkt:jti-y", expires_at) is True
        assert await other.replay_cache.first_use("dpop:jkt:jti-y", expires_at) is False
        # The revocation that could not be stored reaches the other node once the issuer is back,
        # and the nodes write back what the restarted Redis lost, so a new node learns both.
        assert await _eventually(lambda: other.revocations.is_revoked("token-during"), within=2.0)
        late = await backend.node()
        assert late.revocations.is_revoked("token-before") is True
        assert late.revocations.is_revoked("token-during") is True
    finally:
        for state in backend.nodes:
            await state.close()


@pytest.mark.redis
async def test_a_server_that_stops_answering_is_noticed_and_never_hangs_a_request(
    redis_server: RedisServer,
) -> None:
    backend = _redis_backend(redis_server.url, "phigate", timeout=0.5, heartbeat=0.5, max_reconnect_delay=0.3)
    node = await backend.node()
    try:
        await node.revocations.revoke("token-a", time.time() + MINUTE)

        redis_server.pause()
        try:
            with pytest.raises(SharedStateUnavailable):
                async with asyncio.timeout(3):
                    await node.replay_cache.first_use("dpop:jkt:jti-x", time.time() + MINUTE)
            assert await _eventually(lambda: not node.connected, within=5.0)
            assert node.revocations.is_revoked("token-a") is True
        finally:
            redis_server.resume()

        assert await _eventually(lambda: node.connected, within=10.0)
        # jti-x's claim may have been recorded after all (it waited in the frozen server's buffer),
        # so only a fresh key tells that the cache works again.
        assert await node.replay_cache.first_use("dpop:jkt:jti-y", time.time() + MINUTE) is True
    finally:
        for state in backend.nodes:
            await state.close()
