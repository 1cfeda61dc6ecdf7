"""The pooled client for one configured upstream (its several targets).

Target choice is *first healthy*, in configured order: the first target is the
primary and the others are standbys, so traffic is predictable and connections stay
warm on one server. A target whose health check failed is skipped while another is
usable; one whose circuit is open is skipped always. When every circuit is open the
answer is :class:`UpstreamUnavailable` (503) without touching the network.

Failover happens within one call of :meth:`UpstreamPool.send` and within one
deadline (``timeouts.total``); see :mod:`phigate.proxy.faults` for which failures
are retried. Below that, aiohttp itself sends an idempotent request once more, to
the same target, when its connection drops before an answer (RFC 9112 §9.3.1); it
never replays a streamed body. The breaker counts transport failures only: a 5xx
answer is the upstream's answer, passed on as it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from types import TracebackType

import aiohttp
import structlog

from phigate.errors import UpstreamUnavailable
from phigate.proxy.body import StreamedBody, sendable
from phigate.proxy.breaker import CircuitBreaker, Clock
from phigate.proxy.faults import Fault, classify, error_for, reason
from phigate.proxy.headers import strip_hop_by_hop, upstream_request_headers
from phigate.proxy.health import HealthLoop, HealthState, PoolHealth
from phigate.proxy.probe import HealthProbe
from phigate.proxy.request import UpstreamRequest
from phigate.proxy.response import UpstreamResponse
from phigate.proxy.target import Target
from phigate.proxy.tls import client_ssl_context
from phigate.settings import UpstreamSettings

_log = structlog.get_logger("phigate.proxy")

# The caller's headers are sent as they are: aiohttp must not add its own defaults
# (an Accept-Encoding the client never sent would make the upstream compress a body
# the client cannot read, since decompression is off).
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_DNS_CACHE_SECONDS = 10
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class UpstreamPool:
    """Sends requests to one upstream. ``start`` before use, ``close`` at shutdown.

    ``clock`` is a monotonic clock for the circuit breakers and health timestamps
    (injected so tests can move time); socket timeouts always use the event loop's.
    """

    def __init__(
        self,
        name: str,
        settings: UpstreamSettings,
        *,
        clock: Clock = time.monotonic,
        health_checks: bool = True,
    ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        cb = settings.circuit_breaker
        self._targets = tuple(
            Target(t.url, CircuitBreaker(cb.failure_threshold, cb.reset_seconds, clock))
            for t in settings.targets
        )
        hc = settings.health_check
        self._probe = HealthProbe(name, hc.path, hc.timeout_seconds)
        self._health_loop = HealthLoop(self.check_health, hc.interval_seconds) if health_checks else None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is not None:
            return
        context = client_ssl_context(self.name, self._settings)
        connector = aiohttp.TCPConnector(
            limit=self._settings.max_connections,
            keepalive_timeout=self._settings.keepalive_seconds,
            ttl_dns_cache=_DNS_CACHE_SECONDS,
            ssl=context,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one client's cookies to another
            skip_auto_headers=_NO_AUTO_HEADERS,
            trust_env=False,  # no proxy or netrc picked up from the environment
        )
        self._probe.start(context)
        if self._health_loop is not None:
            self._health_loop.start()

    async def close(self) -> None:
        if self._health_loop is not None:
            await self._health_loop.stop()
        await self._probe.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> UpstreamPool:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def settings(self) -> UpstreamSettings:
        return self._settings

    def health(self) -> PoolHealth:
        return PoolHealth(self.name, tuple(t.status() for t in self._targets))

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send ``request`` to the first usable target, failing over as the faults allow.

        Raises :class:`UpstreamUnavailable` (every circuit open), ``UpstreamTimeout``
        or ``UpstreamError``; never a third-party exception.
        """
        session = self._require_session()
        deadline = asyncio.get_running_loop().time() + self._settings.timeouts.total
        body = sendable(request.body)
        failure: tuple[Fault, BaseException] | None = None
        for target in self._candidates():
            limits = self._timeout(deadline)
            if limits is None:
                raise error_for(Fault.timeout) from (failure[1] if failure else None)
            if not target.breaker.allow():
                continue
            try:
                response = await self._attempt(session, target, request, body, limits)
            except _TRANSPORT_ERRORS as exc:
                failure = (classify(exc), exc)
                if not self._may_retry(failure[0], request, body):
                    raise error_for(failure[0]) from exc
                continue
            return response
        if failure is None:
            raise UpstreamUnavailable()
        raise error_for(failure[0]) from failure[1]

    async def check_health(self) -> None:
        """One round of health checks, all targets at once (the loop calls this)."""
        self._require_session()
        verdicts = await asyncio.gather(*(self._probe.is_up(t.url) for t in self._targets))
        now = self._clock()
        for target, up in zip(self._targets, verdicts, strict=True):
            state = HealthState.up if up else HealthState.down
            if state is not target.health:
                _log.info("upstream.health_changed", upstream=self.name, target=target.url, health=state)
            target.health, target.checked_at = state, now

    def _candidates(self) -> list[Target]:
        usable = [t for t in self._targets if t.breaker.available()]
        healthy = [t for t in usable if t.health is not HealthState.down]
        return healthy or usable

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        target: Target,
        request: UpstreamRequest,
        body: bytes | StreamedBody | None,
        limits: aiohttp.ClientTimeout,
    ) -> UpstreamResponse:
        """One try on one target; the breaker gets exactly one verdict for it."""
        try:
            raw = await session.request(
                request.method,
                target.url_for(request.path, request.query),
                headers=upstream_request_headers(request.headers, target.host, not request.replayable),
                data=body,
                allow_redirects=False,  # a redirect is the caller's to see, not ours to follow
                timeout=limits,
            )
        except _TRANSPORT_ERRORS as exc:
            self._record_failure(target, request, exc)
            raise
        except BaseException:
            target.breaker.abandon()
            raise
        target.breaker.record_success()
        headers = strip_hop_by_hop(raw.headers.items())
        chunks = self._chunks(raw, target, request)
        return UpstreamResponse(raw.status, headers, chunks, raw.release, target=target.url)

    async def _chunks(
        self, raw: aiohttp.ClientResponse, target: Target, request: UpstreamRequest
    ) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in raw.content.iter_any():
                yield chunk
        except _TRANSPORT_ERRORS as exc:
            self._record_failure(target, request, exc)
            raise error_for(classify(exc)) from exc

    def _timeout(self, deadline: float) -> aiohttp.ClientTimeout | None:
        """The timeouts of one attempt, within what is left of the call's total; None when nothing is."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return None
        t = self._settings.timeouts
        return aiohttp.ClientTimeout(total=remaining, sock_connect=t.connect, sock_read=t.read)

    def _record_failure(self, target: Target, request: UpstreamRequest, exc: BaseException) -> None:
        fault = classify(exc)
        _log.warning(
            "upstream.failed",
            upstream=self.name,
            target=target.url,
            method=request.method,
            request_id=request.request_id,
            fault=fault.value,
            reason=reason(exc),
        )
        if target.breaker.record_failure():
            _log.warning("upstream.circuit_opened", upstream=self.name, target=target.url)

    @staticmethod
    def _may_retry(fault: Fault, request: UpstreamRequest, body: bytes | StreamedBody | None) -> bool:
        if isinstance(body, StreamedBody) and body.started:
            return False
        if fault is Fault.unreached:
            return True
        return fault is Fault.broken and request.idempotent

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamPool.start() must be awaited before use")
        return self._session
