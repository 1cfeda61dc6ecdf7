"""The demo EHR's resource store: in memory, versioned, journaled to a file.

Resources are kept by ``(type, id)`` with every version, indexed by type (in
insertion order) and by the patients whose compartment they are in. The seed
data set is loaded without journaling (it can be generated again); every create,
update and delete after that is appended to the journal before it is visible, and
the journal is replayed on start so the state survives restarts.

Concurrency: every method is synchronous and finishes without yielding, so on one
asyncio loop each call is atomic; a lock also makes calls from threads safe.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from phigate.demo.compartment import patient_ids
from phigate.demo.journal import Journal
from phigate.errors import RequestError


class VersionConflict(RequestError):
    status = 412
    code = "conflict"
    message = "The resource has changed: the If-Match version is not the current version."


class ResourceGone(RequestError):
    status = 410
    code = "deleted"
    message = "The resource has been deleted."


@dataclass(frozen=True)
class StoredVersion:
    """One version of one resource; ``resource`` is None for a delete. Never mutate ``resource``."""

    type: str
    id: str
    version: int
    last_updated: str
    resource: dict[str, Any] | None
    body: bytes = b""
    # Search values worked out from this version, filled on first use (a version never changes).
    search_cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def deleted(self) -> bool:
        return self.resource is None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def utc_now() -> datetime:
    return datetime.now(UTC)


def fhir_instant(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class ResourceStore:
    def __init__(
        self,
        seed: Iterable[dict[str, Any]] = (),
        journal: Path | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        fsync: bool = True,
    ) -> None:
        self._clock = clock
        self._new_id = new_id
        self._lock = threading.RLock()
        self._latest: dict[str, dict[str, StoredVersion]] = {}
        self._history: dict[tuple[str, str], list[StoredVersion]] = {}
        self._by_patient: dict[str, dict[str, dict[str, None]]] = {}
        self._generation = 0
        for resource in seed:
            meta = resource.get("meta", {})
            self._apply(resource["resourceType"], resource["id"], int(meta.get("versionId", "1")),
                        str(meta.get("lastUpdated", "")), resource)  # fmt: skip
        self._journal = Journal(journal, fsync=fsync) if journal is not None else None
        if self._journal is not None:
            for entry in self._journal.replay():
                self._apply(entry["type"], entry["id"], entry["version"], entry["lastUpdated"],
                            entry.get("resource"))  # fmt: skip

    # reads

    @property
    def generation(self) -> int:
        """Grows with every write, so a reader's derived index knows when it is stale."""
        return self._generation

    def types(self) -> list[str]:
        return list(self._latest)

    def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The latest version (which may be a delete), or None if there never was one."""
        return self._latest.get(resource_type, {}).get(resource_id)

    def vread(self, resource_type: str, resource_id: str, version: int) -> StoredVersion | None:
        versions = self._history.get((resource_type, resource_id), [])
        return next((v for v in versions if v.version == version), None)

    def history(self, resource_type: str, resource_id: str) -> list[StoredVersion]:
        """Every version, newest first."""
        return list(reversed(self._history.get((resource_type, resource_id), [])))

    def current(self, resource_type: str) -> list[StoredVersion]:
        """The live (not deleted) resources of a type, in the order they were first stored."""
        return [v for v in self._latest.get(resource_type, {}).values() if v.resource is not None]

    def in_compartment(self, resource_type: str, patient_id: str) -> list[StoredVersion]:
        """The live resources of a type in the patient's compartment, in stored order."""
        ids = self._by_patient.get(resource_type, {}).get(patient_id, {})
        latest = self._latest.get(resource_type, {})
        return [latest[i] for i in ids if latest[i].resource is not None]

    # writes

    def create(self, resource: dict[str, Any]) -> StoredVersion:
        """Store ``resource`` under a new server-assigned id (any id in the body is replaced)."""
        with self._lock:
            resource_id = self._new_id()
            return self._write(resource["resourceType"], resource_id, resource, None)

    def update(
        self, resource_type: str, resource_id: str, resource: dict[str, Any], if_match: int | None = None
    ) -> tuple[StoredVersion, bool]:
        """Store a new version (or the first one); returns it and whether the resource was created."""
        with self._lock:
            created = self._live(resource_type, resource_id) is None
            return self._write(resource_type, resource_id, resource, if_match), created

    def delete(
        self, resource_type: str, resource_id: str, if_match: int | None = None
    ) -> StoredVersion | None:
        """Record a delete; None if there was nothing live to delete."""
        with self._lock:
            if self._live(resource_type, resource_id) is None:
                return None
            return self._write(resource_type, resource_id, None, if_match)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    # internals

    def _live(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        latest = self.read(resource_type, resource_id)
        return latest if latest is not None and latest.resource is not None else None

    def _write(
        self, resource_type: str, resource_id: str, resource: dict[str, Any] | None, if_match: int | None
    ) -> StoredVersion:
        previous = self.read(resource_type, resource_id)
        current = previous.version if previous is not None else 0
        if if_match is not None and if_match != current:
            raise VersionConflict()
        version, stamp = current + 1, fhir_instant(self._clock())
        stored = None if resource is None else self._stamped(resource, resource_id, version, stamp)
        if self._journal is not None:
            self._journal.append({"type": resource_type, "id": resource_id, "version": version,
                                  "lastUpdated": stamp, "resource": stored})  # fmt: skip
        return self._apply(resource_type, resource_id, version, stamp, stored)

    @staticmethod
    def _stamped(resource: dict[str, Any], resource_id: str, version: int, stamp: str) -> dict[str, Any]:
        given = resource.get("meta") or {}
        meta = {"versionId": str(version), "lastUpdated": stamp}
        meta |= {k: v for k, v in given.items() if k not in ("versionId", "lastUpdated")}
        stored = {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta}
        stored |= {k: v for k, v in resource.items() if k not in stored}
        return stored

    def _apply(
        self, resource_type: str, resource_id: str, version: int, stamp: str, resource: dict[str, Any] | None
    ) -> StoredVersion:
        body = orjson.dumps(resource) if resource is not None else b""
        stored = StoredVersion(resource_type, resource_id, version, stamp, resource, body)
        previous = self.read(resource_type, resource_id)
        self._reindex(resource_type, resource_id, previous, stored)
        self._latest.setdefault(resource_type, {})[resource_id] = stored
        self._history.setdefault((resource_type, resource_id), []).append(stored)
        self._generation += 1
        return stored

    def _reindex(
        self, resource_type: str, resource_id: str, previous: StoredVersion | None, stored: StoredVersion
    ) -> None:
        index = self._by_patient.setdefault(resource_type, {})
        if previous is not None and previous.resource is not None:
            for patient_id in patient_ids(previous.resource):
                index.get(patient_id, {}).pop(resource_id, None)
        if stored.resource is not None:
            for patient_id in patient_ids(stored.resource):
                index.setdefault(patient_id, {})[resource_id] = None
