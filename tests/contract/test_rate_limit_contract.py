"""One contract for limit stores (phigate.guard.limits.store), run in-process and on Redis.

The in-process store runs on a fake clock; the Redis store on Redis's own
clock, so the tests that let time pass use rates where a real wait is short.
Each Redis test works in its own namespace and deletes it after; the outage
test runs its own redis-server on a free port so it can kill and restart it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from fixtures.redis_server import RedisServer
from phigate.adapters.memory_limits import MemoryLimitStore
from phigate.adapters.redis import connect
from phigate.adapters.redis.limits import RedisLimitStore
from phigate.errors import SharedStateUnavailable
from phigate.guard.limits import Bucket, BucketCheck, LimitStore, TrafficControl
from phigate.settings.traffic import parse_rate

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    open: Callable[[], LimitStore]
    advance: Callable[[float], Awaitable[None]]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def _memory() -> Backend:
    clock = FakeClock()
    store = MemoryLimitStore(clock=clock)  # one process: every "node" is the same store

    async def advance(seconds: float) -> None:
        clock.now += seconds

    return Backend("memory", lambda: store, advance)


async def _delete_namespace(url: str, namespace: str) -> None:
    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _redis(url: str, namespace: str, timeout: float = 1.0, cluster: bool = False) -> Backend:
    backend = Backend("redis", lambda: None, asyncio.sleep)  # type: ignore[arg-type, return-value]

    def open_store() -> LimitStore:
        client = connect(url, timeout=timeout)
        backend.closers.append(client.aclose)
        return RedisLimitStore(client, namespace, timeout=timeout, cluster=cluster)

    backend.open = open_store
    return backend


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        # One script call per hash slot, as on Redis Cluster (each call then touches a single slot).
        pytest.param("redis-cluster-layout", marks=pytest.mark.redis),
    ]
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield _memory()
        return
    namespace = f"phigate-rl-test-{secrets.token_hex(4)}"
    chosen = _redis(REDIS_URL, namespace, cluster=request.param == "redis-cluster-layout")
    try:
        yield chosen
    finally:
        for close in chosen.closers:
            await close()
        await _delete_namespace(REDIS_URL, namespace)


def check(subject: str, rate: str, burst: int | None = None, **extra: object) -> BucketCheck:
    parsed = parse_rate(rate)
    return BucketCheck(subject, str(extra.pop("name", "rate")), Bucket.of(parsed, burst), window=60,
                       quota=parsed.count, **extra)  # type: ignore[arg-type]  # fmt: skip


async def spend_until_refused(store: LimitStore, c: BucketCheck, most: int = 100) -> int:
    for passed in range(most):
        (verdict,) = await store.spend([c])
        if not verdict.allowed:
            return passed
    return most


async def test_a_bucket_lets_its_burst_through_then_refuses_with_a_retry_time(backend: Backend) -> None:
    store = backend.open()
    c = check("client:lab", "3 requests/hour")
    verdicts = [(await store.spend([c]))[0] for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert 1_150_000_000 <= verdicts[3].retry_after <= 1_200_000_000  # one interval: 20 minutes
    assert verdicts[3].blocked is False


async def test_buckets_of_other_subjects_and_names_are_independent(backend: Backend) -> None:
    store = backend.open()
    assert await spend_until_refused(store, check("client:a", "2 requests/hour")) == 2
    assert await spend_until_refused(store, check("client:b", "2 requests/hour")) == 2
    assert await spend_until_refused(store, check("client:a", "2 requests/hour", name="search")) == 2


async def test_one_request_is_judged_by_each_of_its_buckets(backend: Backend) -> None:
    store = backend.open()
    tight, loose = check("client:a", "1 requests/hour"), check("global", "100 requests/hour")
    first, second = await store.spend([tight, loose]), await store.spend([tight, loose])
    assert [v.allowed for v in first] == [True, True]
    assert [v.allowed for v in second] == [False, True]  # refused, and counted against its sender


async def test_time_refills_the_bucket(backend: Backend) -> None:
    store = backend.open()
    c = check("client:a", "10 requests/second", burst=2)
    assert await spend_until_refused(store, c) == 2
    await backend.advance(0.25)  # 2.5 intervals
    assert await spend_until_refused(store, c) == 2


async def test_peeking_never_spends_and_costs_are_counted(backend: Backend) -> None:
    store = backend.open()
    peek = check("ip:192.0.2.1", "4 requests/hour", name="token-failures", peek=True)
    for _ in range(10):
        assert (await store.spend([peek]))[0].allowed
    dear = check("ip:192.0.2.1", "4 requests/hour", name="token-failures", cost=3)
    assert (await store.spend([dear]))[0].allowed
    assert (await store.spend([dear]))[0].allowed is False  # 1 left, 3 asked
    assert (await store.spend([peek]))[0].allowed is True  # room for one


async def test_concurrent_spends_never_pass_more_than_the_burst(backend: Backend) -> None:
    stores = [backend.open() for _ in range(3)]  # three nodes on Redis
    c = check("global", "25 requests/hour")
    results = await asyncio.gather(*(stores[i % 3].spend([c]) for i in range(90)))
    assert sum(v[0].allowed for v in results) == 25


async def test_the_control_point_blocks_and_tightens_a_client_and_lifts_itself(backend: Backend) -> None:
    store, other_node = backend.open(), backend.open()
    control = TrafficControl(store)
    own = check("client:lab", "100 requests/second", controlled=True)
    uncontrolled = check("client:lab", "100 requests/second", name="search")

    await control.block("lab", seconds=0.3)
    (blocked,) = await other_node.spend([own])
    assert blocked.allowed is False and blocked.blocked is True and 0 < blocked.retry_after <= 300_000
    assert (await other_node.spend([uncontrolled]))[0].allowed is True
    await backend.advance(0.35)
    assert (await other_node.spend([own]))[0].allowed is True  # the block lifted itself

    await control.tighten("lab", "2 requests/hour", seconds=600, burst=2)
    assert await spend_until_refused(other_node, own) == 2  # a fresh bucket at the tighter rate
    await control.lift("lab")
    assert (await other_node.spend([own]))[0].allowed is True


async def test_a_subjects_control_reads_back_as_set_and_each_call_replaces_it(backend: Backend) -> None:
    store = backend.open()
    control = TrafficControl(store)
    assert (await store.read_control("client:x"))[0] is None
    await control.block("x", 60)
    blocked, now = await store.read_control("client:x")
    assert blocked is not None and 59_000_000 < blocked.blocked_until - now <= 60_000_000
    await control.tighten("x", "5 requests/minute", 60, burst=2)
    tightened, now = await store.read_control("client:x")
    assert tightened is not None and tightened.blocked_until <= now
    assert tightened.tightening(now) == Bucket.of(parse_rate("5 requests/minute"), 2)
    await control.lift("x")
    assert (await store.read_control("client:x"))[0] is None


async def test_tightening_a_client_without_a_rate_starts_counting(backend: Backend) -> None:
    store = backend.open()
    unlimited = BucketCheck("client:free", "rate", Bucket(1, 1_000_000_000), controlled=True)
    assert await spend_until_refused(store, unlimited, most=50) == 50
    await TrafficControl(store).tighten("free", "3 requests/hour", seconds=600)
    assert await spend_until_refused(store, unlimited) == 3


async def test_slots_cap_requests_in_flight_and_free_on_release_or_lease_end(backend: Backend) -> None:
    store, other_node = backend.open(), backend.open()
    assert await store.take_slot("client:lab", "r1", limit=2, lease=0.3)
    assert await other_node.take_slot("client:lab", "r2", limit=2, lease=60)
    assert await other_node.take_slot("client:lab", "r3", limit=2, lease=60) is False
    await other_node.release_slot("client:lab", "r2")
    assert await store.take_slot("client:lab", "r3", limit=2, lease=60)
    await backend.advance(0.35)  # r1's node "died": its lease ends
    assert await store.take_slot("client:lab", "r4", limit=2, lease=60)
    assert await store.take_slot("client:lab", "r5", limit=2, lease=60) is False


@pytest.mark.redis
async def test_a_subjects_keys_share_one_cluster_slot() -> None:
    namespace = f"phigate-rl-test-{secrets.token_hex(4)}"
    client = connect(REDIS_URL, timeout=1.0)
    store = RedisLimitStore(client, namespace, timeout=1.0)
    try:
        c = check("client:acme-lab", "5 requests/hour", controlled=True)
        await store.spend([c])
        await TrafficControl(store).block("acme-lab", 60)
        await store.take_slot("client:acme-lab", "r1", 2, 60)
        keys = sorted([k async for k in client.scan_iter(match=f"{namespace}:*")])
        assert keys == [f"{namespace}:rl:{{client:acme-lab}}:{n}" for n in ("ctl", "inflight", "rate")]
        assert len({key_slot(k.encode()) for k in keys}) == 1
        assert store.key("client:{evil}", "rate") == f"{namespace}:rl:{{client:%7Bevil%7D}}:rate"
    finally:
        await client.aclose()
        await _delete_namespace(REDIS_URL, namespace)


# --- an outage of Redis ------------------------------------------------------------------------


@pytest.mark.redis
async def test_an_outage_fails_fast_every_time_and_the_store_recovers_by_itself(
    redis_server: RedisServer,
) -> None:
    backend = _redis(redis_server.url, "phigate", timeout=0.5)
    store = backend.open()
    c = check("client:lab", "100 requests/hour")
    try:
        assert (await store.spend([c]))[0].allowed
        await redis_server.kill()
        for call in (lambda: store.spend([c]), lambda: store.take_slot("client:lab", "r", 1, 60), store.now):
            started = time.monotonic()
            with pytest.raises(SharedStateUnavailable):
                async with asyncio.timeout(3):
                    await call()
            assert time.monotonic() - started < 2.0
        await redis_server.start()  # empty: no scripts loaded, no buckets
        deadline = time.monotonic() + 10
        while True:
            try:
                (verdict,) = await store.spend([c])
                break
            except SharedStateUnavailable:
                assert time.monotonic() < deadline, "the store did not reconnect"
                await asyncio.sleep(0.1)
        assert verdict.allowed and verdict.remaining == 99  # the restarted Redis starts a fresh bucket
    finally:
        for close in backend.closers:
            await close()
