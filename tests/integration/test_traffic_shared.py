"""The traffic guard shared across nodes: two gateway nodes on one Redis, and a Redis that goes away.

Two nodes on different ports sharing the real Redis at 127.0.0.1:6379 hold
one global limit within 5% under concurrent load, and the control point set
on one node reaches the other. With a test-owned redis-server killed, the
configured failure mode holds (closed: 503 OperationOutcome within a bounded
time; open: requests pass and an alert is logged) and limits work again once
it returns.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from fixtures.gateway_stack import Stack, running_stack
from fixtures.redis_server import RedisServer
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.pipeline.traffic import CONTROL_CACHE_SECONDS

REDIS_URL = "redis://127.0.0.1:6379/0"
READ = "/fhir/Patient/pat-canary"
pytestmark = pytest.mark.redis


def http(stack: Stack) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=40)
    return httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15, limits=limits
    )


async def token(stack: Stack, creds: dict[str, Any]) -> str:
    form = {
        "grant_type": "client_credentials",
        "scope": creds["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
    }
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=form)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def test_two_nodes_hold_one_global_limit_and_share_the_control_point(tmp_path: Path) -> None:
    traffic = {"global": {"rate_limit": "200 requests/hour"}}  # 200 at once, then one every 18 s
    async with running_stack(
        tmp_path, patients=5, nodes=2, shared_state_url=REDIS_URL, traffic=traffic
    ) as stack:
        access = await token(stack, await stack.register("lab", "system/Patient.r"))
        headers = {"authorization": f"Bearer {access}"}
        gate = asyncio.Semaphore(24)  # bounded concurrency

        async def one(client: httpx.AsyncClient, index: int) -> tuple[int, int]:
            async with gate:
                reply = await client.get(stack.publics[index % 2] + READ, headers=headers)
                return index % 2, reply.status_code

        async with http(stack) as client:
            results = await asyncio.gather(*(one(client, i) for i in range(500)))
        passed = sum(status == 200 for _, status in results)
        assert {status for _, status in results} <= {200, 429}
        assert 190 <= passed <= 210, passed  # within 5% of the one global limit of 200
        for node in (0, 1):  # each node both served and refused: they shared one count
            assert {status for n, status in results if n == node} == {200, 429}

    async with running_stack(tmp_path / "b", patients=5, nodes=2, shared_state_url=REDIS_URL) as stack:
        access = await token(stack, await stack.register("lab", "system/Patient.r"))
        headers = {"authorization": f"Bearer {access}"}
        async with http(stack) as client:

            async def status(node: int) -> int:
                return (await client.get(stack.publics[node] + READ, headers=headers)).status_code

            assert await status(1) == 200
            await stack.nodes[0].traffic.control.block("lab", seconds=120)
            # Without a configured limit a node re-reads a client's control at most a second later.
            assert await _eventually(lambda: status(1), 429, within=3.0)
            refused = await client.get(stack.publics[1] + READ, headers=headers)
            assert refused.status_code == 429 and 100 <= int(refused.headers["retry-after"]) <= 120
            await stack.nodes[0].traffic.control.tighten("lab", "2 requests/hour", seconds=120)
            await asyncio.sleep(CONTROL_CACHE_SECONDS + 0.2)  # both nodes have re-read the control
            assert [await status(1), await status(0), await status(1)] == [200, 200, 429]  # one shared bucket
            await stack.nodes[1].traffic.control.lift("lab")
            await asyncio.sleep(CONTROL_CACHE_SECONDS + 0.2)
            assert [await status(n % 2) for n in range(6)] == [200] * 6


async def _eventually(probe: Callable[[], Awaitable[int]], expected: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe() == expected:
            return True
        await asyncio.sleep(0.1)
    return False


# --- a Redis that goes away ----------------------------------------------------------------------


async def _eventually_status(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], status: int
) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (await client.get(url, headers=headers)).status_code == status:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_without_redis_the_guard_fails_closed_then_recovers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    traffic = {"clients": {"lab": {"rate_limit": "1000 requests/hour"}}, "store_timeout_seconds": 0.5}
    async with running_stack(
        tmp_path, patients=5, shared_state_url=redis_server.url, traffic=traffic
    ) as stack:
        access = await token(stack, await stack.register("lab", "system/Patient.r"))
        headers = {"authorization": f"Bearer {access}"}
        async with http(stack) as client:
            assert (await client.get(stack.public + READ, headers=headers)).status_code == 200
            await redis_server.kill()
            for _ in range(3):
                started = time.monotonic()
                refused = await client.get(stack.public + READ, headers=headers)
                assert refused.status_code == 503
                assert refused.json()["issue"][0]["code"] == "transient"
                assert time.monotonic() - started < 3.0  # bounded: never a hang
            await redis_server.start()
            assert await _eventually_status(client, stack.public + READ, headers, 200)


async def test_failing_open_lets_requests_through_with_an_alert_and_limits_return_with_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    traffic = {"clients": {"lab": {"rate_limit": "3 requests/hour"}}, "on_store_failure": "open"}
    async with running_stack(
        tmp_path, patients=5, shared_state_url=redis_server.url, traffic=traffic
    ) as stack:
        access = await token(stack, await stack.register("lab", "system/Patient.r"))
        headers = {"authorization": f"Bearer {access}"}
        url = stack.public + READ
        async with http(stack) as client:
            assert [(await client.get(url, headers=headers)).status_code for _ in range(4)] == [
                200,
                200,
                200,
                429,
            ]
            with capture_logs() as logs:
                await redis_server.kill()
                assert [(await client.get(url, headers=headers)).status_code for _ in range(4)] == [200] * 4
                await redis_server.start()  # empty: a fresh bucket
                assert await _eventually_status(client, url, headers, 429)
        alerts = [entry for entry in logs if entry["event"] == "traffic.limits_unavailable"]
        assert len(alerts) == 1 and alerts[0]["alert"] is True and alerts[0]["mode"] == "open"
        assert any(entry["event"] == "traffic.limits_recovered" for entry in logs)
