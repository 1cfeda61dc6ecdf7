"""The traffic guard on the request path (issue 5): denylist, per-IP limit, allowlists, limits, throttling.

Three stages and one finisher, built from one node-level :class:`Traffic`:

- :class:`PreAuthGuard` (after accept): the global denylist (403) and the
  per-address limit (429), before any token is looked at;
- :class:`NetworkGuard` (after authentication): the client's and its vendor's
  allowlists (403 even with a valid token);
- :class:`RateGuard`: the client's, vendor's, interaction's and global buckets
  (429 with Retry-After and RateLimit headers), then the client's concurrency
  cap with optional short queueing; its finisher frees the slot once the reply
  has been sent and adds the RateLimit headers to a reply that passed.

When the limit store cannot answer, ``traffic.on_store_failure`` decides:
``closed`` (default) ends the exchange with 503 within the store's timeout;
``open`` lets it through and logs one alert per outage. :class:`TokenEndpointGuard`
is the token endpoint's brute-force protection on the same store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from phigate.errors import SharedStateUnavailable
from phigate.exchange import Body, Exchange
from phigate.guard.limits import (
    MICROS,
    AddressRefused,
    BucketCheck,
    Concurrency,
    Control,
    LimitStore,
    RateLimited,
    TooManyInFlight,
    TrafficControl,
    TrafficPlan,
    Verdict,
    policy_headers,
    tightest,
)
from phigate.guard.limits.token_attempts import claimed_client_id
from phigate.pipeline.accept import client_address
from phigate.settings.traffic import TrafficSettings

log = structlog.get_logger("phigate.traffic")
SLOT_LEASE = 300.0  # seconds a concurrency slot outlives a node that died holding it
QUEUE_POLL = 0.02  # seconds between tries for a slot while queued
CONTROL_CACHE_SECONDS = 1.0  # a block reaches a node within this when no limit applies to the request


class Traffic:
    """One node's traffic guard: the plan, the store, the failure mode, the control point."""

    def __init__(self, settings: TrafficSettings, store: LimitStore) -> None:
        self.plan = TrafficPlan.of(settings)
        self.store = store
        self.fail_open = settings.on_store_failure == "open"
        self.control = TrafficControl(store)
        self._outage = False
        # How long a node trusts its copy of a subject's control when no limit makes it ask the store anyway.
        self._control_ttl = CONTROL_CACHE_SECONDS if store.label != "memory" else 0.0
        self._controls: dict[str, tuple[float, Control | None, int]] = {}

    async def spend(self, checks: Sequence[BucketCheck]) -> list[Verdict] | None:
        """The verdicts, or None when the store is down and the guard fails open."""
        if not checks:
            return []
        try:
            if all(check.bucket.unlimited for check in checks):
                verdicts = await self._control_only(checks)
            else:
                verdicts = await self.store.spend(checks)
        except SharedStateUnavailable:
            self._went_down()
            if self.fail_open:
                return None
            raise
        self._came_up()
        return verdicts

    async def _control_only(self, checks: Sequence[BucketCheck]) -> list[Verdict]:
        """No limit counts this request, only the control point may refuse it: read the subjects'
        controls (cached for a second on a shared store) instead of a round trip per request."""
        verdicts = []
        for check in checks:
            control, now = await self._control(check.subject)
            if control is not None and control.blocked_until > now:
                verdicts.append(Verdict(check, False, 0, control.blocked_until - now, 0, blocked=True))
            elif control is not None and control.tightening(now) is not None:
                return await self.store.spend(checks)  # a tightened subject is counted by the store
            else:
                verdicts.append(Verdict(check, True, check.bucket.capacity, 0, 0))
        return verdicts

    async def _control(self, subject: str) -> tuple[Control | None, int]:
        clock = time.monotonic()
        cached = self._controls.get(subject)
        if cached is not None and clock - cached[0] < self._control_ttl:
            fetched, control, store_now = cached
            return control, store_now + int((clock - fetched) * MICROS)
        control, store_now = await self.store.read_control(subject)
        if len(self._controls) > 100_000:
            self._controls.clear()
        self._controls[subject] = (clock, control, store_now)
        return control, store_now

    async def take_slot(self, key: str, member: str, cap: Concurrency) -> bool:
        try:
            taken = await self.store.take_slot(key, member, cap.limit, SLOT_LEASE)
        except SharedStateUnavailable:
            self._went_down()
            if self.fail_open:
                return True
            raise
        self._came_up()
        return taken

    async def release_slot(self, key: str, member: str) -> None:
        try:
            await self.store.release_slot(key, member)
        except SharedStateUnavailable:
            self._went_down()  # the lease frees it later

    def _went_down(self) -> None:
        if not self._outage:
            self._outage = True
            log.warning("traffic.limits_unavailable", backend=self.store.label, alert=True,
                        mode="open" if self.fail_open else "closed")  # fmt: skip

    def _came_up(self) -> None:
        if self._outage:
            self._outage = False
            log.info("traffic.limits_recovered", backend=self.store.label)


def _refuse(verdicts: list[Verdict] | None) -> Verdict | None:
    """The verdict to report: the refusal if any, else the tightest configured limit."""
    if not verdicts:
        return None
    verdict = tightest([v for v in verdicts if v.check.quota > 0 or not v.allowed])
    if verdict is not None and not verdict.allowed:
        raise RateLimited.of(verdict)
    return verdict


class PreAuthGuard:
    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic

    async def __call__(self, ex: Exchange) -> None:
        if self.traffic.plan.deny.contains(ex.client_ip):
            raise AddressRefused()
        _refuse(await self.traffic.spend(self.traffic.plan.pre_auth(ex.client_ip)))


class NetworkGuard:
    def __init__(self, traffic: Traffic) -> None:
        self.plan = traffic.plan

    async def __call__(self, ex: Exchange) -> None:
        if ex.identity is None:
            return
        client = self.plan.client(ex.identity.grant.client_id)
        vendor = self.plan.vendor(ex.identity.vendor_id)
        if not client.allow.admits(ex.client_ip) or (
            vendor is not None and not vendor.allow.admits(ex.client_ip)
        ):
            ex.facts["refused_by"] = "allowlist"
            raise AddressRefused("Requests from this network address are not permitted for this client.")


@dataclass
class _Held:
    headers: tuple[tuple[str, str], ...] = ()
    slot: tuple[str, str] | None = None


class RateGuard:
    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self._held: dict[int, _Held] = {}  # by id(exchange), until the finisher runs

    async def __call__(self, ex: Exchange) -> None:
        plan = self.traffic.plan
        fhir = ex.fhir
        interaction = str(fhir.interaction) if fhir is not None else None
        operation = fhir.operation if fhir is not None else None
        if ex.identity is None:
            checks = [plan.global_limit.check("global")] if plan.global_limit is not None else []
            cap = None
        else:
            client_id = ex.identity.grant.client_id
            checks = plan.authenticated(client_id, ex.identity.vendor_id, interaction, operation)
            cap = plan.client(client_id).concurrency
        verdict = _refuse(await self.traffic.spend(checks))
        held = _Held(headers=policy_headers(verdict) if verdict is not None else ())
        if cap is not None and ex.identity is not None:
            key, member = f"client:{ex.identity.grant.client_id}", uuid.uuid4().hex
            await self._queue_for_slot(key, member, cap)
            held.slot = (key, member)
        if held.headers or held.slot:
            self._held[id(ex)] = held

    async def _queue_for_slot(self, key: str, member: str, cap: Concurrency) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cap.queue_seconds
        while not await self.traffic.take_slot(key, member, cap):
            left = deadline - loop.time()
            if left <= 0:
                raise TooManyInFlight(1)
            await asyncio.sleep(min(QUEUE_POLL, left))

    async def finish(self, ex: Exchange) -> None:
        """After the reply is shaped: RateLimit headers on a reply that passed; free the slot once sent."""
        held = self._held.pop(id(ex), None)
        if held is None:
            return
        if ex.reply is not None and ex.error is None:
            ex.reply.headers.extend(held.headers)
        if held.slot is None:
            return
        release = self._releaser(*held.slot)
        if ex.reply is not None and not isinstance(ex.reply.body, bytes):
            ex.reply.body = _ReleasingBody(ex.reply.body, release)
        else:
            await release()

    def _releaser(self, key: str, member: str) -> Callable[[], Awaitable[None]]:
        async def release() -> None:
            await self.traffic.release_slot(key, member)

        return release


class _ReleasingBody:
    """A streamed reply body that frees the concurrency slot when it is closed (sent or abandoned)."""

    def __init__(self, body: Body, release: Callable[[], Awaitable[None]]) -> None:
        self._body = body
        self._release: Callable[[], Awaitable[None]] | None = release

    def iter_body(self) -> Any:
        return self._body.iter_body()

    async def read(self, max_bytes: int) -> bytes:
        return await self._body.read(max_bytes)

    async def close(self) -> None:
        try:
            await self._body.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                await release()


@dataclass(frozen=True)
class TokenAttempt:
    """One token request let through; :meth:`failed` spends from its failure budgets."""

    guard: TokenEndpointGuard
    address: str
    client_id: str | None

    async def failed(self) -> None:
        checks = self.guard.traffic.plan.token_attempt(self.address, self.client_id, peek=False)
        # The attempt was answered already; when the store is down, the next one meets the failure mode.
        with contextlib.suppress(SharedStateUnavailable):
            await self.guard.traffic.spend(checks)
        log.info("token_attempt_failed", client_id=self.client_id, client_ip=self.address)


class TokenEndpointGuard:
    """Brute-force protection of the token endpoint: failures per address and per client, on every node.

    :meth:`admit` (before the attempt) refuses a denied address (403), an
    address over its per-IP limit, or a client or address whose failure budget
    is spent (429 with Retry-After); the caller reports a failed attempt with
    :meth:`TokenAttempt.failed`.
    """

    def __init__(self, traffic: Traffic, trusted_proxies: Sequence[str], address_header: str) -> None:
        self.traffic = traffic
        self.trusted = tuple(trusted_proxies)
        self.address_header = address_header
        self._address = client_address(trusted_proxies, address_header)

    async def admit(self, peer: str, headers: Mapping[str, str], form: Mapping[str, str]) -> TokenAttempt:
        address = self._address(peer, headers.get(self.address_header))
        plan = self.traffic.plan
        if plan.deny.contains(address):
            raise AddressRefused()
        client_id = claimed_client_id(form)
        _refuse(
            await self.traffic.spend(
                [*plan.pre_auth(address), *plan.token_attempt(address, client_id, peek=True)]
            )
        )
        return TokenAttempt(self, address, client_id)
