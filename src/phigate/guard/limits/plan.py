"""Which buckets, caps and address rules apply to a request, read once from ``traffic:`` settings.

The plan is pure: given who is calling (client, vendor, address) and what they
ask (interaction, operation), it names the checks; a store spends them.
Costs come from ``traffic.costs`` by operation (``$export``) or interaction
(``search``), else 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from phigate.guard.limits.addresses import AddressRule
from phigate.guard.limits.gcra import UNLIMITED, Bucket
from phigate.guard.limits.subjects import BucketCheck
from phigate.settings.traffic import LimitSettings, Rate, SubjectTraffic, TrafficSettings


@dataclass(frozen=True, slots=True)
class Limit:
    """A configured rate as a bucket, with what the RateLimit-Policy header reports."""

    bucket: Bucket
    quota: int
    window: int

    @classmethod
    def of(cls, rate: Rate, burst: int | None) -> Limit:
        return cls(Bucket.of(rate, burst), rate.count, max(1, round(rate.period)))

    @classmethod
    def maybe(cls, settings: LimitSettings | SubjectTraffic | None) -> Limit | None:
        if settings is None or settings.rate_limit is None:
            return None
        return cls.of(settings.rate_limit, settings.burst)

    def check(self, subject: str, name: str = "rate", cost: int = 1, **flags: bool) -> BucketCheck:
        return BucketCheck(subject, name, self.bucket, cost, self.window, self.quota, **flags)


@dataclass(frozen=True, slots=True)
class Concurrency:
    limit: int
    queue_seconds: float


@dataclass(frozen=True, slots=True)
class SubjectPlan:
    limit: Limit | None
    allow: AddressRule
    concurrency: Concurrency | None

    @classmethod
    def of(cls, settings: SubjectTraffic) -> SubjectPlan:
        cap = settings.max_concurrent
        return cls(
            Limit.maybe(settings),
            AddressRule.of(settings.allow_ips),
            Concurrency(cap, settings.queue_seconds) if cap is not None else None,
        )


@dataclass(frozen=True)
class TrafficPlan:
    deny: AddressRule
    per_ip: Limit | None
    global_limit: Limit | None
    default_client: SubjectPlan
    clients: dict[str, SubjectPlan]
    vendors: dict[str, SubjectPlan]
    interactions: dict[str, Limit]
    costs: dict[str, int]
    token_per_ip: Limit | None
    token_per_client: Limit | None

    @classmethod
    def of(cls, settings: TrafficSettings) -> TrafficPlan:
        return cls(
            deny=AddressRule.of(settings.deny_ips),
            per_ip=Limit.maybe(settings.per_ip),
            global_limit=Limit.maybe(settings.global_),
            default_client=SubjectPlan.of(settings.default_client),
            clients={k: SubjectPlan.of(v) for k, v in settings.clients.items()},
            vendors={k: SubjectPlan.of(v) for k, v in settings.vendors.items()},
            interactions={k: Limit.maybe(v) for k, v in settings.interactions.items()},  # type: ignore[misc]
            costs=dict(settings.costs),
            token_per_ip=Limit.maybe(settings.token_endpoint.failures_per_ip),
            token_per_client=Limit.maybe(settings.token_endpoint.failures_per_client),
        )

    def client(self, client_id: str) -> SubjectPlan:
        return self.clients.get(client_id, self.default_client)

    def vendor(self, vendor_id: str) -> SubjectPlan | None:
        return self.vendors.get(vendor_id)

    def cost(self, interaction: str | None, operation: str | None) -> int:
        if operation is not None and f"${operation}" in self.costs:
            return self.costs[f"${operation}"]
        return self.costs.get(interaction or "", 1)

    def pre_auth(self, address: str) -> list[BucketCheck]:
        """Before authentication: every request from one address."""
        return [self.per_ip.check(f"ip:{address}")] if self.per_ip is not None else []

    def authenticated(
        self, client_id: str, vendor_id: str, interaction: str | None, operation: str | None
    ) -> list[BucketCheck]:
        """After authentication: the client's, its vendor's, the interaction's and the global buckets."""
        cost = self.cost(interaction, operation)
        subject = f"client:{client_id}"
        client = self.client(client_id).limit
        # Always present, so the control point can block or tighten a client without a configured rate.
        checks = [client.check(subject, cost=cost, controlled=True) if client is not None else
                  BucketCheck(subject, "rate", UNLIMITED, cost, quota=0, controlled=True)]  # fmt: skip
        vendor = self.vendor(vendor_id)
        if vendor is not None and vendor.limit is not None:
            checks.append(vendor.limit.check(f"vendor:{vendor_id}", cost=cost, controlled=True))
        name = (
            f"${operation}" if operation is not None and f"${operation}" in self.interactions else interaction
        )
        per_interaction = self.interactions.get(name or "")
        if per_interaction is not None and name is not None:
            checks.append(per_interaction.check(subject, name=name))
        if self.global_limit is not None:
            checks.append(self.global_limit.check("global", cost=cost))
        return checks

    def token_attempt(self, address: str, client_id: str | None, *, peek: bool) -> list[BucketCheck]:
        """The token endpoint's failure buckets: peeked before an attempt, spent after a failure."""
        checks = []
        if self.token_per_ip is not None:
            checks.append(self.token_per_ip.check(f"ip:{address}", name="token-failures", peek=peek))
        if self.token_per_client is not None and client_id:
            checks.append(
                self.token_per_client.check(f"client:{client_id}", name="token-failures", peek=peek)
            )
        return checks
