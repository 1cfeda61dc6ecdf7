"""The traffic stages on exchanges, without HTTP: throttling, queueing, headers, failure modes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from structlog.testing import capture_logs

from phigate.adapters.memory_limits import MemoryLimitStore
from phigate.errors import SharedStateUnavailable
from phigate.exchange import Exchange, Identity, Reply
from phigate.guard.limits import AddressRefused, BucketCheck, Control, RateLimited, TooManyInFlight, Verdict
from phigate.pipeline.traffic import NetworkGuard, PreAuthGuard, RateGuard, Traffic
from phigate.policy.grants import Grant
from phigate.policy.scopes import ScopeSet
from phigate.settings.traffic import TrafficSettings
from phigate.types import ClientId, RequestId, VendorId


async def _no_body(limit: int) -> bytes:
    return b""


def exchange(client_id: str | None = "lab", ip: str = "192.0.2.1") -> Exchange:
    ex = Exchange(
        request_id=RequestId("req-00000001"), method="GET", path="/fhir/Patient/1",
        raw_path=b"/fhir/Patient/1", query="", headers=[], client_ip=ip, scheme="https",
        started=time.monotonic(), read_body=_no_body, route_base="/fhir",
    )  # fmt: skip
    if client_id is not None:
        grant = Grant(ScopeSet.parse("system/Patient.r"), ClientId(client_id))
        ex.identity = Identity(grant, VendorId("acme"), "jti", "https://gw", 0)
    return ex


def traffic(**raw: object) -> Traffic:
    return Traffic(TrafficSettings.model_validate(raw), MemoryLimitStore())


async def run(guard: RateGuard, ex: Exchange, body: bytes | None = b"{}") -> None:
    await guard(ex)
    ex.reply = Reply(200, [], body if body is not None else _Stream())


class _Stream:
    closed = False

    async def iter_body(self) -> AsyncIterator[bytes]:
        yield b"{}"

    async def read(self, max_bytes: int) -> bytes:
        return b"{}"

    async def close(self) -> None:
        self.closed = True


async def test_a_client_over_its_cap_in_flight_is_refused_and_a_finished_one_frees_its_slot() -> None:
    guard = RateGuard(traffic(clients={"lab": {"max_concurrent": 1}}))
    first, second, third = exchange(), exchange(), exchange()
    await run(guard, first)
    with pytest.raises(TooManyInFlight) as refused:
        await guard(second)
    assert refused.value.status == 429 and ("retry-after", "1") in refused.value.headers
    await guard(exchange("other"))  # another client has its own slots
    await guard.finish(first)
    await run(guard, third)


async def test_a_streamed_reply_holds_its_slot_until_the_body_is_closed() -> None:
    guard = RateGuard(traffic(clients={"lab": {"max_concurrent": 1}}))
    first = exchange()
    await run(guard, first, body=None)
    await guard.finish(first)
    assert first.reply is not None and not isinstance(first.reply.body, bytes)
    with pytest.raises(TooManyInFlight):
        await guard(exchange())
    await first.reply.body.close()
    await guard(exchange())


async def test_a_queued_request_passes_when_a_slot_frees_within_its_wait() -> None:
    guard = RateGuard(traffic(clients={"lab": {"max_concurrent": 1, "queue_seconds": 2}}))
    first, second = exchange(), exchange()
    await run(guard, first)

    async def finish_soon() -> None:
        await asyncio.sleep(0.1)
        await guard.finish(first)

    finisher = asyncio.create_task(finish_soon())
    async with asyncio.timeout(3):
        await guard(second)  # waited in the queue, then passed
    await finisher


async def test_a_queued_request_is_refused_when_its_wait_runs_out() -> None:
    guard = RateGuard(traffic(clients={"lab": {"max_concurrent": 1, "queue_seconds": 0.1}}))
    await run(guard, exchange())
    started = time.monotonic()
    with pytest.raises(TooManyInFlight):
        await guard(exchange())
    assert 0.1 <= time.monotonic() - started < 1.0


async def test_a_refusal_carries_retry_after_and_the_ratelimit_headers() -> None:
    guard = RateGuard(traffic(clients={"lab": {"rate_limit": "2 requests/minute"}}))
    ok = exchange()
    await run(guard, ok)
    await guard.finish(ok)
    assert ok.reply is not None
    assert ("ratelimit-policy", '"client";q=2;w=60') in ok.reply.headers
    assert ("ratelimit", '"client";r=1;t=30') in ok.reply.headers
    await run(guard, exchange())
    with pytest.raises(RateLimited) as refused:
        await guard(exchange())
    headers = dict(refused.value.headers)
    assert refused.value.status == 429 and refused.value.code == "throttled"
    assert headers["retry-after"] == "30"
    assert headers["ratelimit"] == '"client";r=0;t=60'


async def test_the_denylist_and_allowlists_refuse_by_address() -> None:
    t = traffic(deny_ips=["198.51.100.0/24"], clients={"lab": {"allow_ips": ["203.0.113.0/24"]}},
                vendors={"acme": {"allow_ips": ["203.0.113.0/25"]}})  # fmt: skip
    with pytest.raises(AddressRefused):
        await PreAuthGuard(t)(exchange(None, ip="198.51.100.9"))
    await PreAuthGuard(t)(exchange(None, ip="203.0.113.200"))
    with pytest.raises(AddressRefused) as refused:
        await NetworkGuard(t)(exchange("lab", ip="192.0.2.1"))
    assert refused.value.status == 403
    with pytest.raises(AddressRefused):
        await NetworkGuard(t)(exchange("lab", ip="203.0.113.200"))  # in the client's list, not the vendor's
    await NetworkGuard(t)(exchange("lab", ip="203.0.113.20"))
    await NetworkGuard(t)(exchange("someone-else", ip="203.0.113.20"))


class _DownStore(MemoryLimitStore):
    async def spend(self, checks: Sequence[BucketCheck]) -> list[Verdict]:
        raise SharedStateUnavailable()

    async def take_slot(self, key: str, member: str, limit: int, lease: float) -> bool:
        raise SharedStateUnavailable()

    async def control(self, subject: str, control: Control | None) -> None:
        raise SharedStateUnavailable()


async def test_an_unreachable_store_fails_closed_by_default() -> None:
    guard = RateGuard(
        Traffic(TrafficSettings.model_validate({"global": {"rate_limit": "5/second"}}), _DownStore())
    )
    with pytest.raises(SharedStateUnavailable) as refused:
        await guard(exchange())
    assert refused.value.status == 503


async def test_failing_open_lets_requests_through_and_alerts_once_per_outage() -> None:
    raw = {
        "on_store_failure": "open",
        "global": {"rate_limit": "5/second"},
        "default_client": {"max_concurrent": 1},
    }
    guard = RateGuard(Traffic(TrafficSettings.model_validate(raw), _DownStore()))
    with capture_logs() as logs:
        for _ in range(3):
            await guard(exchange())
    alerts = [e for e in logs if e["event"] == "traffic.limits_unavailable"]
    assert len(alerts) == 1 and alerts[0]["alert"] is True and alerts[0]["log_level"] == "warning"
