"""One request through the gateway: the ``Exchange`` every pipeline stage reads and adds to.

An exchange starts with the raw request as the listener received it, gathers
facts (the parsed FHIR request, later the identity, decisions and obligations),
and ends with exactly one reply: either the upstream's response or an error
from the tree in ``phigate.errors``. Stages never send anything themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from phigate.errors import PhigateError
from phigate.fhir.request import FhirRequest
from phigate.policy.decisions import CheckResponse
from phigate.policy.grants import Grant
from phigate.types import RequestId, VendorId

Headers = list[tuple[str, str]]


class Body(Protocol):
    """A response body that is streamed once, chunk by chunk."""

    def iter_body(self) -> AsyncIterator[bytes]: ...

    async def read(self, max_bytes: int) -> bytes: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, established by the authenticate stage: the client's grant, its vendor, its token."""

    grant: Grant
    vendor_id: VendorId
    token_id: str
    issuer: str
    expires_at: int
    person: str | None = None  # the signed-in person (``sub``) when an app acts for one
    fhir_user: str | None = None  # their FHIR resource (``fhirUser``): Practitioner/…, Patient/…
    acr: str | None = None  # how they authenticated (NIST AAL)
    break_glass: str | None = None  # the emergency access record the token was issued under (HIPAA)


@dataclass(slots=True)
class Reply:
    """What goes back to the caller: status, headers, and a body (bytes or a stream)."""

    status: int
    headers: Headers
    body: bytes | Body = b""


@dataclass(slots=True)
class Exchange:
    request_id: RequestId
    method: str
    path: str  # the URL path as received, percent-decoded once by the server
    raw_path: bytes  # the path exactly as sent (still percent-encoded)
    query: str
    headers: Headers  # lower-case names
    client_ip: str
    scheme: str
    started: float  # monotonic seconds, for durations
    read_body: Callable[[int], Awaitable[bytes]]  # reads the request body, at most N+1 bytes
    route_base: str = ""
    client_cert_thumbprint: str | None = None  # x5t#S256 of the TLS client certificate (RFC 8705)
    body: bytes = b""
    fhir: FhirRequest | None = None
    identity: Identity | None = None
    response_checks: list[CheckResponse] = field(default_factory=list)  # obligations on the reply
    # A de-identification preset the reply must pass through, over any data contract: the obligation of a
    # vendor allowed de-identified data only (set by the posture stage, met by the shape-body stage).
    deidentify: str | None = None
    upstream_target: str | None = None
    reply: Reply | None = None
    error: PhigateError | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # audit facts added by stages
    bytes_sent: int = 0
    body_read: bool = False

    async def request_body(self, limit: int) -> bytes:
        """The request body, read once (at most ``limit`` + 1 bytes) and kept for later stages."""
        if not self.body_read:
            self.body = await self.read_body(limit)
            self.body_read = True
        return self.body

    def header(self, name: str) -> str | None:
        """The first value of a (lower-case) header name, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def relative_path(self) -> str:
        """The raw path below the route's FHIR base (``/Patient/1``), still percent-encoded."""
        raw = self.raw_path.decode("latin-1")
        return raw[len(self.route_base) :]
