"""FHIR dates for contracts and masking: relative-time templates, ranges, shifting, truncation.

Pure: the time is always passed in (epoch seconds). A FHIR date is as precise as
it is written (``2025`` is a year, ``2025-03-04`` a day), so a value becomes a
half-open range ``[low, high)`` of epoch seconds; a value without a zone is read
as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from phigate.settings.contracts import RELATIVE_TIME

DATE_RE = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.[0-9]+)?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "w": 7 * 86400}


def render_relative(template: str, now: float) -> str:
    """Replace each ``{now±N<unit>}`` by the instant it names, as a FHIR dateTime in UTC."""

    def instant(match: re.Match[str]) -> str:
        offset = 0
        if match.group("sign"):
            offset = int(match.group("amount")) * _UNIT_SECONDS[match.group("unit")]
            offset = -offset if match.group("sign") == "-" else offset
        moment = datetime.fromtimestamp(int(now) + offset, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return RELATIVE_TIME.sub(instant, template)


def date_range(text: str) -> tuple[float, float] | None:
    """The ``[low, high)`` a FHIR date, dateTime or instant covers; None if ``text`` is not one."""
    match = DATE_RE.fullmatch(text)
    if match is None:
        return None
    p = match.groupdict()
    try:
        day = date(int(p["year"]), int(p["month"] or 1), int(p["day"] or 1))
        clock = int(p["hour"] or 0), int(p["minute"] or 0), int(p["second"] or 0)
        start = datetime(day.year, day.month, day.day, *clock, tzinfo=UTC)
    except ValueError:
        return None
    start -= _zone(p["zone"])
    if p["hour"] is not None:
        end = start + timedelta(seconds=1 if p["second"] else 60)
    elif p["day"] is not None:
        end = start + timedelta(days=1)
    elif p["month"] is not None:
        end = _add_months(start, 1)
    else:
        end = start.replace(year=start.year + 1)
    return start.timestamp(), end.timestamp()


def is_date_like(text: str) -> bool:
    """A FHIR date of at least month precision (a bare ``2020`` is too often a number or code)."""
    match = DATE_RE.fullmatch(text)
    return match is not None and match.group("month") is not None


def shift(text: str, days: int) -> str | None:
    """``text`` moved by ``days``; the time becomes midnight (zone kept); coarser dates give None."""
    match = DATE_RE.fullmatch(text)
    if match is None or match.group("day") is None:
        return None
    day = date(int(match["year"]), int(match["month"]), int(match["day"])) + timedelta(days=days)
    if match.group("hour") is None:
        return day.isoformat()
    return f"{day.isoformat()}T00:00:00{match.group('zone') or ''}"


def year_of(text: str) -> str | None:
    match = DATE_RE.fullmatch(text)
    return match.group("year") if match is not None else None


def age_at(birth: str, now: float) -> int | None:
    """Whole years between a birth date (any precision: its earliest day) and ``now``."""
    match = DATE_RE.fullmatch(birth)
    if match is None:
        return None
    born = date(int(match["year"]), int(match["month"] or 1), int(match["day"] or 1))
    today = datetime.fromtimestamp(now, tz=UTC).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _zone(zone: str | None) -> timedelta:
    if zone is None or zone == "Z":
        return timedelta(0)
    sign = -1 if zone.startswith("-") else 1
    return sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    return moment.replace(year=moment.year + month // 12, month=month % 12 + 1)
