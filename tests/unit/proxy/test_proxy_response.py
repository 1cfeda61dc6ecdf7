from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

from phigate.errors import UpstreamError
from phigate.proxy.response import UpstreamResponse


class Source:
    """A body generator that records whether it was finished and whether the connection was released."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.released = 0
        self.finalised = False

    async def generate(self) -> AsyncGenerator[bytes, None]:
        try:
            for chunk in self.chunks:
                yield chunk
        finally:
            self.finalised = True

    def release(self) -> None:
        self.released += 1

    def response(self, headers: list[tuple[str, str]] | None = None) -> UpstreamResponse:
        return UpstreamResponse(200, headers or [], self.generate(), self.release)


async def test_iter_body_yields_the_chunks_then_releases() -> None:
    source = Source(b"ab", b"cd")
    response = source.response()
    assert [c async for c in response.iter_body()] == [b"ab", b"cd"]
    assert source.released == 1 and source.finalised


async def test_read_returns_the_whole_body_within_the_limit() -> None:
    source = Source(b"ab", b"cd")
    assert await source.response().read(max_bytes=4) == b"abcd"
    assert source.released == 1


async def test_read_refuses_a_body_that_grows_past_the_limit() -> None:
    source = Source(b"ab", b"cd", b"ef")
    with pytest.raises(UpstreamError) as caught:
        await source.response().read(max_bytes=3)
    assert caught.value.status == 502
    assert source.released == 1 and source.finalised


async def test_read_refuses_a_declared_length_past_the_limit_before_reading() -> None:
    source = Source(b"never read")
    with pytest.raises(UpstreamError):
        await source.response([("Content-Length", "4096")]).read(max_bytes=1024)
    assert source.released == 1


async def test_the_body_is_read_once_and_close_is_idempotent() -> None:
    source = Source(b"ab")
    async with source.response() as response:
        await response.read(max_bytes=10)
        with pytest.raises(RuntimeError):
            await response.read(max_bytes=10)
        await response.close()
    assert source.released == 1


async def test_closing_without_reading_releases_the_connection() -> None:
    source = Source(b"ab")
    async with source.response():
        pass
    assert source.released == 1


def test_header_lookup_is_case_insensitive_and_returns_the_first() -> None:
    response = Source().response([("Content-Type", "application/fhir+json"), ("Vary", "a"), ("vary", "b")])
    assert response.header("content-type") == "application/fhir+json"
    assert response.header("VARY") == "a"
    assert response.header("ETag") is None
    assert response.content_length is None
