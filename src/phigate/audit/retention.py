"""Retention with legal hold: which stored events a purge may remove, and the signed mark it leaves.

A purge removes, node by node, the oldest part of the chain (every event up to
the last one recorded before the cut-off) except events under a legal hold. It
then signs a :class:`PurgeMark`: the chain now starts after event ``seq``, the
next event links to ``head``, and ``kept`` lists the held events at or below
``seq`` that stay. ``audit verify`` starts each chain at its latest mark, so a
purge is not mistaken for removal, while deleting anything else still is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

SECONDS_PER_DAY = 86400


@dataclass(frozen=True, slots=True)
class Hold:
    """Events that must outlive retention: every condition given must match (patient, client, time)."""

    patient: str | None = None
    client_id: str | None = None
    since: float | None = None
    until: float | None = None
    reason: str = ""
    id: int | None = None
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if self.patient is None and self.client_id is None and self.since is None and self.until is None:
            raise ValueError("a legal hold names a patient, a client or a time range")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("a legal hold's time range ends after it starts")

    def matches(self, event: dict[str, Any]) -> bool:
        recorded = float(event.get("recorded", 0.0))
        return (
            (self.patient is None or self.patient in event.get("patients", ()))
            and (self.client_id is None or self.client_id == event.get("client_id"))
            and (self.since is None or recorded >= self.since)
            and (self.until is None or recorded < self.until)
        )


def cutoff(now: float, retention_days: int, before: float | None) -> float:
    """The purge cut-off: ``before`` if given, and never later than retention allows.

    Raises ValueError when ``before`` would remove events younger than ``retention_days``.
    """
    limit = now - retention_days * SECONDS_PER_DAY
    if before is None:
        return limit
    if before > limit:
        raise ValueError(f"events younger than audit.retention_days ({retention_days} days) are kept")
    return before


def purge_message(
    node: str, seq: int, head: str, kept: Iterable[int], removed: int, cut: float, signed_at: float
) -> bytes:
    """The exact bytes a purge mark signs."""
    fields = {
        "purpose": "phigate-audit-purge",
        "node": node,
        "seq": seq,
        "head": head,
        "kept": sorted(kept),
        "removed": removed,
        "cutoff": cut,
        "at": signed_at,
    }
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class PurgeMark:
    node: str
    seq: int
    head: str
    kept: tuple[int, ...]
    removed: int
    cutoff: float
    signed_at: float
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return purge_message(
            self.node, self.seq, self.head, self.kept, self.removed, self.cutoff, self.signed_at
        )
