"""Prometheus metrics of one gateway node, in a registry of its own (never the global one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The *_created series double the output and carry no information a scraper needs.
disable_created_metrics()  # type: ignore[no-untyped-call]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.exchanges = Counter(
            "phigate_exchanges",
            "Exchanges handled, by route, interaction and HTTP status.",
            ("route", "interaction", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "phigate_exchange_duration_seconds",
            "Time from request received to the last byte of the reply.",
            ("route", "interaction"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.denials = Counter(
            "phigate_denials", "Exchanges ended by a stage, by error code.", ("code",), registry=self.registry
        )
        self.in_flight = Gauge("phigate_in_flight", "Exchanges in flight.", registry=self.registry)
        self.input_issues = Counter(
            "phigate_input_issues",
            "Input-validation and payload-inspection findings, by rule and whether they blocked.",
            ("rule", "blocking"),
            registry=self.registry,
        )
        self.upstream_failures = Counter(
            "phigate_upstream_failures",
            "Upstream calls that failed, by kind.",
            ("kind",),
            registry=self.registry,
        )

        # -- evidence plane (issue 8): by client and vendor (both bounded by the registered clients) --
        self.audited = Counter(
            "phigate_audit_events",
            "Audit events spooled, by kind, client, vendor and outcome.",
            ("kind", "client", "vendor", "outcome"),
            registry=self.registry,
        )
        self.audit_lag = Gauge(
            "phigate_audit_lag_events", "Spooled audit events not yet in the store.", registry=self.registry
        )
        self.alerts = Counter(
            "phigate_alerts", "Alerts raised, by detector and severity.", ("detector", "severity"),
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
