"""Bundles the demo EHR returns: searchset (search, compartment, ``$everything``) and history.

Stored resources are spliced in as pre-serialised JSON (``orjson.Fragment``) so a
page of results is not parsed and serialised again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from phigate.demo.query import safe_name
from phigate.demo.store import StoredVersion
from phigate.fhir.outcome import operation_outcome

_PAGING = ("_offset", "_count")
OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


@dataclass(frozen=True)
class Page:
    """Where a page sits: the request's URL (no query), its parameters, offset, size and the total."""

    url: str
    params: list[tuple[str, str]]
    offset: int
    count: int
    total: int

    def link(self, offset: int) -> str:
        kept = [(name, value) for name, value in self.params if name not in _PAGING]
        return f"{self.url}?{urlencode([*kept, ('_count', str(self.count)), ('_offset', str(offset))])}"


def searchset(
    base: str,
    page: Page,
    matches: list[StoredVersion],
    included: list[StoredVersion] | None = None,
    ignored: tuple[str, ...] = (),
    shape: Callable[[StoredVersion], Any] | None = None,
) -> dict[str, Any]:
    entries = [_entry(base, stored, "match", shape) for stored in matches]
    entries += [_entry(base, stored, "include", shape) for stored in included or []]
    if ignored:
        entries.append({"resource": _ignored_outcome(ignored), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": page.total,
        "link": _links(page),
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def _links(page: Page) -> list[dict[str, str]]:
    self_url = f"{page.url}?{urlencode(page.params)}" if page.params else page.url
    links = [{"relation": "self", "url": self_url}]
    if page.count == 0:
        return links
    links.append({"relation": "first", "url": page.link(0)})
    if page.offset + page.count < page.total:
        links.append({"relation": "next", "url": page.link(page.offset + page.count)})
    if page.offset > 0:
        links.append({"relation": "previous", "url": page.link(max(page.offset - page.count, 0))})
    return links


def _entry(
    base: str, stored: StoredVersion, mode: str, shape: Callable[[StoredVersion], Any] | None
) -> dict[str, Any]:
    resource = shape(stored) if shape is not None else orjson.Fragment(stored.body)
    return {"fullUrl": f"{base}/{stored.type}/{stored.id}", "resource": resource, "search": {"mode": mode}}


def _ignored_outcome(ignored: tuple[str, ...]) -> dict[str, Any]:
    names = ", ".join(sorted({safe_name(name) for name in ignored}))
    return operation_outcome("not-supported", f"Search parameters ignored: {names}.", severity="warning")


def history(base: str, versions: list[StoredVersion]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "history",
        "total": len(versions),
        "entry": [_history_entry(base, stored) for stored in versions],
    }


def _history_entry(base: str, stored: StoredVersion) -> dict[str, Any]:
    relative = f"{stored.type}/{stored.id}"
    if stored.deleted:
        request = {"method": "DELETE", "url": relative}
        status = "204 No Content"
    elif stored.version == 1:
        request, status = {"method": "POST", "url": stored.type}, "201 Created"
    else:
        request, status = {"method": "PUT", "url": relative}, "200 OK"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{relative}"}
    if not stored.deleted:
        entry["resource"] = orjson.Fragment(stored.body)
    entry["request"] = request
    entry["response"] = {"status": status, "etag": stored.etag, "lastModified": stored.last_updated}
    return entry


def elements_only(elements: tuple[str, ...]) -> Callable[[StoredVersion], dict[str, Any]]:
    """``_elements``: keep the named top-level elements (and the mandatory ones), marked SUBSETTED."""
    keep = {"resourceType", "id", "meta", *elements}

    def shape(stored: StoredVersion) -> dict[str, Any]:
        resource = {k: v for k, v in (stored.resource or {}).items() if k in keep}
        meta = dict(resource.get("meta", {}))
        subsetted = {"system": OBSERVATION_VALUE, "code": "SUBSETTED"}
        meta["tag"] = [*meta.get("tag", []), subsetted]
        resource["meta"] = meta
        return resource

    return shape
