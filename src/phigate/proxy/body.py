"""A request body read from a stream, which therefore can be sent only once."""

from __future__ import annotations

from collections.abc import AsyncIterator


class StreamedBody:
    """Wraps the caller's iterator to tell whether any of it was taken.

    Once the first chunk has been pulled the bytes are gone: the request can no
    longer go to another target, whatever its method.
    """

    __slots__ = ("_source", "started")

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self.started = False

    def __aiter__(self) -> StreamedBody:
        return self

    async def __anext__(self) -> bytes:
        self.started = True
        return await self._source.__anext__()


def sendable(body: bytes | AsyncIterator[bytes] | None) -> bytes | StreamedBody | None:
    """The body as the pool sends it: bytes as they are, a stream wrapped to track its use."""
    if body is None or isinstance(body, bytes):
        return body
    return StreamedBody(body)
