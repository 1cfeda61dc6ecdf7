"""The health check request: ``GET {target}{path}``; a 2xx answer in time means up."""

from __future__ import annotations

import ssl

import aiohttp
import structlog
from yarl import URL

from phigate.proxy.faults import reason

_log = structlog.get_logger("phigate.proxy")


class HealthProbe:
    """Checks targets on a session of its own (one short-lived connection per check).

    Sharing the traffic pool would let a burst that fills ``max_connections`` make
    every check wait for a slot, time out and mark a healthy target down.
    """

    def __init__(self, upstream: str, path: str, timeout_seconds: float) -> None:
        self._upstream = upstream
        self._path = path
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def start(self, ssl_context: ssl.SSLContext) -> None:
        connector = aiohttp.TCPConnector(force_close=True, ssl=ssl_context)
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def is_up(self, base_url: str) -> bool:
        if self._session is None:
            raise RuntimeError("HealthProbe.start() must be called before use")
        url = URL(base_url + self._path, encoded=True)
        try:
            async with self._session.get(url, allow_redirects=False, timeout=self._timeout) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            _log.info(
                "upstream.health_check_failed", upstream=self._upstream, target=base_url, why=reason(exc)
            )
            return False
