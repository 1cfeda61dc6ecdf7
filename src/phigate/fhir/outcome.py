"""OperationOutcome: the one rendering of an error for the FHIR API."""

from __future__ import annotations

from typing import Any, Literal

from phigate.errors import PhigateError

Severity = Literal["fatal", "error", "warning", "information"]


def operation_outcome(
    code: str, diagnostics: str, severity: Severity = "error", expression: str | None = None
) -> dict[str, Any]:
    """An OperationOutcome resource with one issue. ``diagnostics`` must be safe to show."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression is not None:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_for(error: PhigateError) -> dict[str, Any]:
    """Render an error of the tree; only its safe ``message`` is shown, never ``args`` or a cause."""
    return operation_outcome(error.code, error.message)
