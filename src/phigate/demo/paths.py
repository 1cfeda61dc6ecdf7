"""Walking a dotted element path (``name.given``, ``participant.individual``) through FHIR JSON."""

from __future__ import annotations

from typing import Any


def values_at(resource: dict[str, Any], path: str) -> list[Any]:
    """Every value at ``path``; lists are flattened at each step, as FHIRPath does."""
    current: list[Any] = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for node in current:
            if not isinstance(node, dict) or step not in node:
                continue
            value = node[step]
            if isinstance(value, list):
                found.extend(value)
            else:
                found.append(value)
        current = found
    return current


def reference_target(reference: str) -> tuple[str, str] | None:
    """``(type, id)`` of a literal reference, relative (``Patient/1``) or absolute (``http://x/fhir/Patient/1``)."""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return parts[-2], parts[-1]


def references_at(resource: dict[str, Any], path: str) -> list[tuple[str, str]]:
    targets = []
    for value in values_at(resource, path):
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            target = reference_target(value["reference"])
            if target is not None:
                targets.append(target)
    return targets
