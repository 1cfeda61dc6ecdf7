"""FHIR dates as ranges, and the date search prefixes (``eq``, ``ge``, ``lt``, ...) over them.

A FHIR date is as precise as it is written: ``2025`` is the whole year,
``2025-03-04`` the whole day, ``2025-03-04T09:30:00-05:00`` one second. Each value
becomes a half-open range ``[low, high)`` of POSIX seconds, and a search matches
when the ranges relate as the prefix says (FHIR R4 search, "date"). A value with
no time zone is read as UTC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

DateRange = tuple[float, float]
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_PATTERN = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def parse_range(text: str) -> DateRange | None:
    """The range a FHIR date, dateTime or instant covers; None if ``text`` is not one."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    try:
        start = datetime(int(parts["year"]), int(parts["month"] or 1), int(parts["day"] or 1),
                         int(parts["hour"] or 0), int(parts["minute"] or 0), int(parts["second"] or 0),
                         tzinfo=UTC)  # fmt: skip
    except ValueError:
        return None
    start -= _offset(parts["zone"])
    low = start.timestamp() + float(parts["fraction"] or 0)
    return low, _end(start, parts) + float(parts["fraction"] or 0)


def _offset(zone: str | None) -> timedelta:
    if zone is None or zone == "Z":
        return timedelta(0)
    sign = -1 if zone.startswith("-") else 1
    return sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))


def _end(start: datetime, parts: dict[str, Any]) -> float:
    if parts["fraction"]:
        return start.timestamp() + 10.0 ** -(len(parts["fraction"]) - 1)
    if parts["second"]:
        return start.timestamp() + 1
    if parts["minute"]:
        return start.timestamp() + 60
    if parts["day"]:
        return start.timestamp() + 86400
    if parts["month"]:
        month = start.month % 12 + 1
        return start.replace(year=start.year + (start.month == 12), month=month).timestamp()
    return start.replace(year=start.year + 1).timestamp()


def period_range(period: dict[str, Any]) -> DateRange | None:
    """A Period: from its start to the end of its end; a missing side is open."""
    start = parse_range(period["start"]) if isinstance(period.get("start"), str) else None
    end = parse_range(period["end"]) if isinstance(period.get("end"), str) else None
    if start is None and end is None:
        return None
    return (start[0] if start else -math.inf), (end[1] if end else math.inf)


def checker(prefix: str, wanted: DateRange) -> Callable[[float, float], bool]:
    """A test of a resource range ``(low, high)`` against ``prefix wanted`` (FHIR R4 search, "date")."""
    w_low, w_high = wanted
    checks: dict[str, Callable[[float, float], bool]] = {
        "eq": lambda low, high: w_low <= low and high <= w_high,
        "ne": lambda low, high: not (w_low <= low and high <= w_high),
        "gt": lambda low, high: high > w_high,
        "lt": lambda low, high: low < w_low,
        "ge": lambda low, high: high > w_high or (w_low <= low and high <= w_high),
        "le": lambda low, high: low < w_low or (w_low <= low and high <= w_high),
        "sa": lambda low, high: low >= w_high,
        "eb": lambda low, high: high <= w_low,
        "ap": lambda low, high: low < w_high and w_low < high,
    }
    return checks[prefix]
