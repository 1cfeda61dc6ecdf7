"""One upstream target: its base URL, its circuit breaker and its last health verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from yarl import URL

from phigate.proxy.breaker import CircuitBreaker
from phigate.proxy.health import HealthState, TargetStatus


@dataclass(slots=True)
class Target:
    url: str  # base URL, no trailing slash, no query (the settings check both)
    breaker: CircuitBreaker
    health: HealthState = HealthState.unknown
    checked_at: float | None = None
    host: str = field(init=False)  # the Host header: host, and port when not the scheme's default

    def __post_init__(self) -> None:
        self.host = URL(self.url).host_port_subcomponent or ""

    def url_for(self, path: str, query: str = "") -> URL:
        """The full URL; ``path`` and ``query`` are already encoded and are not re-quoted."""
        return URL(self.url + path + (f"?{query}" if query else ""), encoded=True)

    def status(self) -> TargetStatus:
        return TargetStatus(
            url=self.url,
            health=self.health,
            circuit=self.breaker.state,
            consecutive_failures=self.breaker.consecutive_failures,
            checked_at=self.checked_at,
        )
