"""Stage: validate. Every input check of ``phigate.guard`` on the request as it will go upstream.

Media type and charset, JSON and XML safety, FHIR R4 structure of bodies,
search parameters against the R4 definitions (strict unless the caller asks
for lenient handling), and payload inspection for injection patterns. Blocking
problems end the exchange with one OperationOutcome issue per problem (400,
413, 415 or 422); report-only hits become audit facts.
"""

from __future__ import annotations

from phigate.exchange import Exchange
from phigate.guard.issues import InputRefused, blocking
from phigate.guard.search_rules import SearchPolicy
from phigate.guard.validation import GuardConfig, inspect_request
from phigate.monitor.metrics import GatewayMetrics
from phigate.settings import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def guard_config(settings: Settings, base: str) -> GuardConfig:
    route = next((r for r in settings.routes if r.base == base), None)
    rules = route.validation if route is not None and route.validation is not None else settings.validation
    search = SearchPolicy(
        strict=rules.strict_search,
        max_count=rules.max_count,
        includes=frozenset(rules.includes),
        revincludes=frozenset(rules.revincludes),
        iterate=rules.include_iterate,
    )
    return GuardConfig(
        base=base,
        max_body_bytes=settings.limits.max_body_bytes,
        max_depth=rules.max_json_depth,
        allow_xml=rules.allow_xml,
        search=search,
        inspection=rules.inspection,
    )


class Validate:
    def __init__(self, config: GuardConfig, metrics: GatewayMetrics) -> None:
        self.config = config
        self.metrics = metrics

    async def __call__(self, ex: Exchange) -> None:
        announced = (
            ex.header("content-length") not in (None, "0") or ex.header("transfer-encoding") is not None
        )
        # A body on GET or DELETE is refused, not silently dropped: a proxy behind us might read it.
        body = (
            await ex.request_body(self.config.max_body_bytes)
            if ex.method in BODY_METHODS or announced
            else b""
        )
        issues = inspect_request(ex.method, ex.raw_path, ex.query, ex.headers, body, self.config)
        if not issues:
            return
        ex.facts["input_issues"] = [(issue.rule, issue.expression) for issue in issues]
        for issue in issues:
            self.metrics.input_issues.labels(issue.rule, "yes" if issue.blocking else "no").inc()
        if blocking(issues):
            raise InputRefused(issues)
