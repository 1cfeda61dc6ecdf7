"""The one request the gateway sends upstream, as a value."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from phigate.types import RequestId

Body = bytes | AsyncIterator[bytes] | None

# RFC 9110 §9.2.2 (TRACE left out: the gateway never forwards it). Only these may be
# sent a second time, to another target, after the first attempt may have reached one.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

_FORBIDDEN_IN_TARGET = frozenset("#\r\n\t \x00")
# RFC 9110 §5.6.2 token characters, for header names.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """What to send: ``path`` is relative to the target's base URL (``/Patient/1``).

    ``path`` and ``query`` are already percent-encoded and are sent as given. ``headers``
    are the caller's; hop-by-hop headers and ``Host`` are replaced on the way out. A
    ``bytes`` body can be sent again on another target; an async-iterator body is read
    once and so is never replayed after its first chunk was taken.
    """

    method: str
    path: str
    query: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: Body = None
    request_id: RequestId | None = None

    def __post_init__(self) -> None:
        if not self.method.isascii() or not self.method.isalpha() or not self.method.isupper():
            raise ValueError("method must be an upper-case HTTP token such as GET")
        if self.path and not self.path.startswith("/"):
            raise ValueError("path must be empty or start with '/'")
        if _FORBIDDEN_IN_TARGET.intersection(self.path + self.query) or self.query.startswith("?"):
            raise ValueError("path and query must be percent-encoded, without '#', spaces or '?' prefix")
        for name, value in self.headers:
            # A CR or LF here would let a caller's value start a header of its own upstream.
            if not name or not _TOKEN.issuperset(name) or any(c in value for c in "\r\n\x00"):
                raise ValueError("header names must be tokens and values must not hold CR, LF or NUL")

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    @property
    def replayable(self) -> bool:
        """True when the body can be sent again as it was (no body, or bytes)."""
        return self.body is None or isinstance(self.body, bytes)
