"""Validation findings as values, and their rendering as one ``OperationOutcome``.

Every check of the guard returns a list of :class:`Issue` instead of raising, so a
caller can gather every problem of a request (one outcome issue per problem) and
decide once what to do. An issue names *where* (a FHIRPath expression, a JSON
path, a search parameter or a header name) and *which rule*, with a safe message:
never the offending value, which may be patient data or an attack payload.

Error classes the guard needs that ``phigate.errors`` does not (yet) have live
here, subclassing :class:`~phigate.errors.RequestError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from phigate.errors import RequestError

MAX_ISSUES = 100

# Which status wins when a request has problems of several kinds: framing and
# size first (the body cannot be trusted at all), then media type, then syntax,
# then content.
_PRECEDENCE = (400, 413, 414, 431, 415, 406, 404, 405, 422)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem. ``blocking=False`` marks a report-only finding (inspection in report mode)."""

    expression: str
    rule: str
    message: str
    status: int = 422
    code: str = "invalid"
    blocking: bool = True

    def to_outcome_issue(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": "error" if self.blocking else "warning",
            "code": self.code,
            "details": {"coding": [{"system": "urn:phigate:rule", "code": self.rule}]},
            "diagnostics": self.message,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def blocking(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.blocking]


def status_of(issues: Sequence[Issue]) -> int:
    """The HTTP status for a refusal on ``issues`` (200 if none blocks)."""
    statuses = {issue.status for issue in issues if issue.blocking}
    for status in _PRECEDENCE:
        if status in statuses:
            return status
    return max(statuses, default=200)


def outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    """An ``OperationOutcome`` with one issue per problem (at most :data:`MAX_ISSUES`)."""
    rendered = [issue.to_outcome_issue() for issue in issues[:MAX_ISSUES]]
    if len(issues) > MAX_ISSUES:
        rendered.append(
            {
                "severity": "error",
                "code": "too-costly",
                "diagnostics": f"{len(issues) - MAX_ISSUES} further problems are not listed.",
            }
        )
    return {"resourceType": "OperationOutcome", "issue": rendered}


class UnsupportedMediaType(RequestError):
    status = 415
    code = "not-supported"
    message = "The request body's media type is not supported here."


class NotAcceptable(RequestError):
    status = 406
    code = "not-supported"
    message = "None of the requested response formats is available."


class Unprocessable(RequestError):
    status = 422
    code = "processing"
    message = "The resource is not valid."


class InputRefused(RequestError):
    """A request refused by the guard; ``issues`` holds every problem, rendered by :func:`outcome`."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        self.status = status_of(self.issues)
        first = next((issue for issue in self.issues if issue.blocking), None)
        self.code = first.code if first is not None else "invalid"
        count = len(blocking(self.issues))
        super().__init__(f"The request was refused: {count} problem(s); see the issues.")

    def outcome(self) -> dict[str, Any]:
        return outcome(self.issues)
