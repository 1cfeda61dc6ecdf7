"""``traffic:``: rate limits, concurrency caps and IP rules (issue 5).

A rate is written ``N requests/second|minute|hour|day`` (``requests`` may be
left out: ``1000/minute``). ``burst`` is how many requests may arrive at once
(the bucket's size); it defaults to N, so ``1000 requests/minute`` allows 1000
at once and then 1000 a minute. In any window of the rate's period at most
N + burst requests pass. Every problem names its key path
(``traffic.clients.acme-lab.rate_limit: '1000/minit' is not a rate ...``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, field_validator

PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"\s*(\d{1,9})\s*(?:requests?\s*)?/\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)
_RATE_HINT = "write N requests/second|minute|hour|day, for example 1000 requests/minute"


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``period`` seconds, as written (``text``)."""

    count: int
    period: float
    text: str

    @property
    def interval(self) -> float:
        """Seconds between two requests at the steady rate."""
        return self.period / self.count


def parse_rate(value: object) -> Rate:
    if isinstance(value, Rate):
        return value
    text = str(value) if isinstance(value, (str, int)) else repr(value)
    match = _RATE.fullmatch(text) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"'{text[:80]}' is not a rate: {_RATE_HINT}")
    count, unit = int(match.group(1)), match.group(2).lower()
    return Rate(count, PERIODS[unit], f"{count} requests/{unit}")


RateText = Annotated[Rate, PlainValidator(parse_rate), PlainSerializer(lambda rate: rate.text)]
Burst = Annotated[int, Field(ge=1, le=10_000_000)]


def _networks(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValueError(
                f"'{str(value)[:80]}' is not an IP address or CIDR network (such as 203.0.113.0/24 or "
                "2001:db8::/32, with no host bits set)"
            ) from None
    return values


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LimitSettings(_Model):
    """One limit: a rate and an optional burst."""

    rate_limit: RateText
    burst: Burst | None = None


class SubjectTraffic(_Model):
    """What applies to one client or vendor (or to every client without its own entry)."""

    rate_limit: RateText | None = None
    burst: Burst | None = None
    allow_ips: tuple[str, ...] | None = None  # None: from anywhere; [] would refuse every address
    max_concurrent: Annotated[int, Field(ge=1, le=100_000)] | None = None  # in flight at once, all nodes
    queue_seconds: Annotated[float, Field(ge=0, le=30)] = 0.0  # wait this long for a slot before 429

    @field_validator("allow_ips")
    @classmethod
    def _allow_networks(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _networks(value)


class TokenEndpointSettings(_Model):
    """Brute-force protection of ``/oauth2/token``: failed attempts allowed, shared across nodes."""

    failures_per_ip: LimitSettings | None = LimitSettings(rate_limit=parse_rate("20 requests/minute"))
    failures_per_client: LimitSettings | None = LimitSettings(rate_limit=parse_rate("10 requests/minute"))


DEFAULT_COSTS = {"search": 2, "$everything": 10, "$export": 10}


class TrafficSettings(_Model):
    store: Literal["shared", "local"] = "shared"  # shared: the shared_state.url backend (Redis: all nodes)
    on_store_failure: Literal["closed", "open"] = "closed"  # closed: 503; open: let through, log an alert
    store_timeout_seconds: Annotated[float, Field(gt=0, le=10)] = 0.5
    client_address_header: Literal["x-forwarded-for", "forwarded"] = (
        "x-forwarded-for"  # read from trusted proxies
    )
    deny_ips: tuple[str, ...] = ()  # refused before authentication
    per_ip: LimitSettings | None = None  # every request from one address, before authentication
    global_: Annotated[LimitSettings | None, Field(alias="global")] = None
    default_client: SubjectTraffic = SubjectTraffic()
    clients: dict[str, SubjectTraffic] = Field(default_factory=dict)  # by phigate client id
    vendors: dict[str, SubjectTraffic] = Field(default_factory=dict)  # by vendor id
    interactions: dict[str, LimitSettings] = Field(default_factory=dict)  # per client: search, $export...
    costs: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=lambda: dict(DEFAULT_COSTS)
    )
    token_endpoint: TokenEndpointSettings = TokenEndpointSettings()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("deny_ips")
    @classmethod
    def _deny_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _networks(value)

    @field_validator("interactions", "costs")
    @classmethod
    def _known_interactions(cls, value: dict[str, object]) -> dict[str, object]:
        for name in value:
            if name not in INTERACTION_NAMES and not re.fullmatch(r"\$[a-z][A-Za-z0-9-]{0,63}", name):
                raise ValueError(
                    f"'{name[:80]}' is not an interaction ({', '.join(sorted(INTERACTION_NAMES))}) "
                    "or an operation such as $export"
                )
        return value


INTERACTION_NAMES = frozenset(
    {"read", "vread", "search", "create", "update", "patch", "delete", "history", "operation", "batch",
     "transaction", "capabilities"}
)  # fmt: skip
