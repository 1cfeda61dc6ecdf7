"""What ``make bench`` measures: one :class:`Scenario` per table row, in run order.

A scenario is a declarative entry: which server it hits, the path and headers of its one
request, whether that request carries the access token its server issued to the benchmark's
client (``bearer``; the token only exists once the server runs, so run.py adds the header),
the status every response must have, and which rows its throughput is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["reference", "gateway", "candidate"]

METADATA = "/fhir/metadata"
PATIENT = "/fhir/Patient/1"
CLAIMS = "/fhir/Claim"  # a search the benchmark client's system/Patient.r does not grant: 403
AUTHORIZATION = "Authorization"
LIMIT = "100,000,000 requests/second"  # gateway.UNREACHED: limits no benchmark load reaches


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # a key of run.LAUNCHERS
    path: str
    role: Role
    about: str
    expect_status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    baselines: tuple[str, ...] = ()  # names of the rows this one's throughput is compared with
    bearer: bool = False  # the request carries its server's access token (Server.token)

    def header_names(self) -> tuple[str, ...]:
        """The names of the request's headers, for the table and the JSON (never their values)."""
        return (*self.headers, AUTHORIZATION) if self.bearer else tuple(self.headers)

    def request_headers(self, token: str | None) -> dict[str, str]:
        """The request's headers, with ``token`` as its bearer credential when the row needs one.

        Raises ValueError when the row needs a token and ``token`` is None.
        """
        if not self.bearer:
            return dict(self.headers)
        if token is None:
            raise ValueError(f"row {self.name} needs an access token and its server has none")
        return {**self.headers, AUTHORIZATION: f"Bearer {token}"}


DIRECT_AND_NGINX = ("direct", "nginx-proxy")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "direct", "upstream", METADATA, "reference",
        "the upstream itself (nginx serving a static ~2 KB FHIR JSON): the ceiling",
    ),
    Scenario(
        "nginx-proxy", "nginx-proxy", METADATA, "reference",
        "nginx as a plain reverse proxy with upstream keep-alive: the C reference",
    ),
    Scenario(
        "gateway", "gateway", METADATA, "gateway",
        "phigate serve, plain HTTP (environment dev): public GET /fhir/metadata forwarded upstream",
        baselines=(*DIRECT_AND_NGINX, "uvicorn-aiohttp"),
    ),
    Scenario(
        "gateway-deny", "gateway", PATIENT, "gateway",
        "phigate serve, a data read without credentials: the 401 pipeline cost, nothing forwarded",
        expect_status=401, baselines=DIRECT_AND_NGINX,
    ),
    Scenario(
        "gateway-token", "gateway", PATIENT, "gateway",
        "phigate serve, GET /fhir/Patient/1 with a valid ES256 access token (scope system/Patient.r): "
        "token verification and scope authorisation, then forwarded upstream; audited with the default "
        "durability (audit.fsync: interval)",
        baselines=(*DIRECT_AND_NGINX, "gateway", "gateway-token-audit-off"), bearer=True,
    ),
    Scenario(
        "gateway-token-deny", "gateway", CLAIMS, "gateway",
        "phigate serve, the same token searching Claim, which its scope does not grant: "
        "verification and authorisation up to the 403, nothing forwarded",
        expect_status=403, baselines=("direct", "gateway-deny", "gateway-token"), bearer=True,
    ),
    Scenario(
        "gateway-limits", "gateway-limits", METADATA, "gateway",
        f"the gateway row with limits in-process (shared_state memory://): per-IP and global limits of "
        f"{LIMIT} (default_client too), so nothing is refused but every request is counted",
        baselines=("gateway",),
    ),
    Scenario(
        "gateway-token-limits", "gateway-limits", PATIENT, "gateway",
        "the gateway-token row with limits in-process: the per-IP, global and the client's own limit",
        baselines=("gateway-token",), bearer=True,
    ),
    Scenario(
        "gateway-limits-redis", "gateway-limits-redis", METADATA, "gateway",
        "the gateway row with limits on Redis (shared_state redis://, a namespace of its own): the same "
        "limits, each request counted by a script on the Redis server",
        baselines=("gateway", "gateway-limits"),
    ),
    Scenario(
        "gateway-token-limits-redis", "gateway-limits-redis", PATIENT, "gateway",
        "the gateway-token row with limits on Redis: the per-IP, global and the client's own limit",
        baselines=("gateway-token", "gateway-token-limits"), bearer=True,
    ),
    Scenario(
        "gateway-token-audit-off", "gateway-audit-off", PATIENT, "gateway",
        "the gateway-token row with auditing off (audit.enabled: false): no audit event is written",
        bearer=True,
    ),
    Scenario(
        "gateway-token-fsync-always", "gateway-fsync-always", PATIENT, "gateway",
        "the gateway-token row audited with audit.fsync: always, the spool fsynced before each response "
        "is complete",
        baselines=("gateway-token-audit-off", "gateway-token"), bearer=True,
    ),
    Scenario(
        "nginx-proxy-tls", "nginx-proxy-tls", METADATA, "reference",
        "nginx reverse proxy with TLS on the listener: the TLS reference",
    ),
    Scenario(
        "gateway-tls", "gateway-tls", METADATA, "gateway",
        "phigate serve with TLS on the public listener: GET /fhir/metadata forwarded upstream",
        baselines=("nginx-proxy-tls", "gateway"),
    ),
    Scenario(
        "uvicorn-aiohttp", "uvicorn-aiohttp", METADATA, "candidate",
        "bare pure-ASGI proxy on uvicorn (uvloop, httptools) with the aiohttp client",
        baselines=DIRECT_AND_NGINX,
    ),
    Scenario(
        "uvicorn-httpx", "uvicorn-httpx", METADATA, "candidate",
        "the same bare proxy on uvicorn with the httpx client",
        baselines=(*DIRECT_AND_NGINX, "uvicorn-aiohttp"),
    ),
    Scenario(
        "granian-aiohttp", "granian-aiohttp", METADATA, "candidate",
        "the aiohttp bare proxy on granian (ASGI, one worker, single-threaded runtime, uvloop)",
        baselines=(*DIRECT_AND_NGINX, "uvicorn-aiohttp"),
    ),
)  # fmt: skip


def select(scenarios: tuple[Scenario, ...], only: list[str]) -> tuple[Scenario, ...]:
    """The scenarios named in ``only`` (all when empty); an unknown name raises ValueError."""
    if not only:
        return scenarios
    known = {s.name for s in scenarios}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(
            f"unknown row {', '.join(unknown)}; rows are: {', '.join(s.name for s in scenarios)}"
        )
    return tuple(s for s in scenarios if s.name in only)
