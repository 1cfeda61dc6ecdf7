"""``Patient/id/$everything``: the patient, their compartment, and what those resources refer to.

Paged like a search (``_count``, ``_offset``); ``_type`` limits the resource types.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from phigate.demo.bundles import Page, searchset
from phigate.demo.compartment import PATIENT_LINKS
from phigate.demo.paths import reference_target
from phigate.demo.query import DEFAULT_COUNT, MAX_COUNT
from phigate.demo.store import ResourceStore, StoredVersion
from phigate.errors import RequestError


def everything(
    store: ResourceStore, patient: StoredVersion, base: str, url: str, params: list[tuple[str, str]]
) -> dict[str, Any]:
    options = dict(params)
    count = min(_number(options, "_count", DEFAULT_COUNT), MAX_COUNT)
    offset = _number(options, "_offset", 0)
    types = set(options["_type"].split(",")) if options.get("_type") else None
    records = [patient] if types is None or "Patient" in types else []
    for resource_type in PATIENT_LINKS:
        if types is None or resource_type in types:
            records.extend(store.in_compartment(resource_type, patient.id))
    records.extend(_referenced(store, [patient, *records], types))
    page = Page(url, params, offset, count, len(records))
    return searchset(base, page, records[offset : offset + count])


def _number(options: dict[str, str], name: str, default: int) -> int:
    value = options.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise RequestError(f"Parameter '{name}' needs a whole number.")
    return int(value)


def _referenced(
    store: ResourceStore, records: list[StoredVersion], types: set[str] | None
) -> list[StoredVersion]:
    """Resources outside the compartment (practitioners, organizations) that the records refer to."""
    seen = {(stored.type, stored.id) for stored in records}
    found: list[StoredVersion] = []
    for stored in records:
        for target in _references(stored.resource or {}):
            if target in seen or target[0] in PATIENT_LINKS or target[0] == "Patient":
                continue
            seen.add(target)
            referenced = store.read(*target)
            if referenced is not None and not referenced.deleted and (types is None or target[0] in types):
                found.append(referenced)
    return found


def _references(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str):
            target = reference_target(reference)
            if target is not None:
                yield target
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)
