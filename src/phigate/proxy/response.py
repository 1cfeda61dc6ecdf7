"""The upstream's answer: status and headers at once, the body as a stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType

from phigate.errors import UpstreamError

_TOO_LARGE = "The upstream FHIR server's answer is larger than the gateway accepts."


class UpstreamResponse:
    """One response; hop-by-hop headers are already removed, the body is passed as sent
    (still compressed when ``Content-Encoding`` says so).

    The body is read once, by :meth:`iter_body` or :meth:`read`. Always end with
    :meth:`close` (or use ``async with``): it returns the connection to the pool, or
    drops it when the body was not read to the end. A failure while the body streams
    raises :class:`UpstreamError` (or ``UpstreamTimeout``) from the iterator.
    """

    __slots__ = ("_chunks", "_closed", "_release", "_taken", "headers", "status", "target")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        chunks: AsyncGenerator[bytes, None],
        release: Callable[[], object],
        target: str = "",
    ) -> None:
        self.status = status
        self.headers = headers
        self.target = target  # the base URL of the target that answered (for audit, not for callers)
        self._chunks = chunks
        self._release = release
        self._taken = False
        self._closed = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for n, v in self.headers if n.lower() == lowered), None)

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        return int(value) if value is not None and value.isdigit() else None

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive; closes the response when done or abandoned."""
        self._take()
        try:
            async for chunk in self._chunks:
                yield chunk
        finally:
            await self.close()

    async def read(self, max_bytes: int) -> bytes:
        """The whole body, refused with :class:`UpstreamError` (a 502) past ``max_bytes``."""
        self._take()
        try:
            declared = self.content_length
            if declared is not None and declared > max_bytes:
                raise UpstreamError(_TOO_LARGE)
            body = bytearray()
            async for chunk in self._chunks:
                body += chunk
                if len(body) > max_bytes:
                    raise UpstreamError(_TOO_LARGE)
            return bytes(body)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._chunks.aclose()
        self._release()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _take(self) -> None:
        if self._taken:
            raise RuntimeError("the response body can be read only once")
        self._taken = True
