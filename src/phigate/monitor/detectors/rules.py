"""The detectors: authorisation-failure bursts, restricted attempts, many patients, honey tokens,
volume above the client's own baseline, off-hours access, a new source network, bulk operations."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Protocol

from phigate.monitor.detectors.alerts import Alert, Observed, Severity
from phigate.monitor.detectors.bulk import BulkOperations
from phigate.monitor.detectors.windows import DistinctWindow, Window
from phigate.settings.audit import DetectorSettings


class Detector(Protocol):
    name: str

    def observe(self, event: Observed) -> Alert | None: ...


def _subject(event: Observed) -> str:
    return event.client_id or f"ip:{event.source_ip or 'unknown'}"


def _alert(name: str, severity: Severity, event: Observed, explanation: str) -> Alert:
    return Alert(
        name, severity, _subject(event), explanation, event.recorded, event.client_id, event.vendor_id
    )


class AuthFailures:
    name = "auth-failures"

    def __init__(self, s: DetectorSettings) -> None:
        self.limit, self.window = s.auth_failures, Window[None](s.auth_failure_window_seconds)

    def observe(self, event: Observed) -> Alert | None:
        failed = (event.kind == "security" and event.action == "token.refused") or (
            event.kind == "exchange" and event.status == 401
        )
        if not failed:
            return None
        # Keyed by address: credential stuffing tries many client ids from one place.
        subject = f"ip:{event.source_ip or 'unknown'}"
        count = len(self.window.add(subject, event.recorded, None))
        if count < self.limit:
            return None
        explanation = (
            f"{count} authorisation failures within {self.window.seconds:g}s (threshold {self.limit})"
        )
        return Alert(self.name, Severity.high, subject, explanation, event.recorded, event.client_id)


class RestrictedAttempts:
    name = "restricted-access"

    def __init__(self, s: DetectorSettings) -> None:
        self.limit, self.window = s.restricted_attempts, Window[None](s.restricted_window_seconds)

    def observe(self, event: Observed) -> Alert | None:
        if event.kind != "exchange" or event.status != 403:
            return None
        count = len(self.window.add(_subject(event), event.recorded, None))
        if count < self.limit:
            return None
        explanation = (
            f"{count} requests refused by policy within {self.window.seconds:g}s (threshold {self.limit})"
        )
        return _alert(self.name, Severity.medium, event, explanation)


class DistinctPatients:
    name = "many-patients"

    def __init__(self, s: DetectorSettings) -> None:
        self.limit = s.distinct_patients
        self.window = DistinctWindow[str](s.distinct_patients_window_seconds)

    def observe(self, event: Observed) -> Alert | None:
        if event.kind != "exchange" or not event.patients:
            return None
        distinct = self.window.add(_subject(event), event.recorded, event.patients)
        if distinct < self.limit:
            return None
        explanation = (
            f"{distinct} distinct patients within {self.window.seconds:g}s (threshold {self.limit}): "
            "enumeration or scraping"
        )
        return _alert(self.name, Severity.high, event, explanation)


class HoneyPatients:
    name = "honey-token"

    def __init__(self, s: DetectorSettings) -> None:
        self.honey = frozenset(s.honey_patients)

    def observe(self, event: Observed) -> Alert | None:
        if not self.honey or event.kind != "exchange":
            return None
        named = set(event.patients) | {i.rsplit("/", 1)[-1] for i in event.resource_ids}
        if not named & self.honey:
            return None
        outcome = "read" if event.patients else "requested"
        explanation = f"a canary patient record that no legitimate client reads was {outcome}"
        return _alert(self.name, Severity.critical, event, explanation)


class Volume:
    """Requests per minute against the client's own baseline (an exponentially weighted mean)."""

    name = "volume"
    ALPHA = 0.2

    def __init__(self, s: DetectorSettings) -> None:
        self.factor, self.floor = s.volume_factor, s.volume_min_per_minute
        self._minute: dict[str, tuple[int, int]] = {}  # subject -> (minute, count)
        self._baseline: dict[str, float] = {}

    def observe(self, event: Observed) -> Alert | None:
        if event.kind != "exchange" or event.client_id is None:
            return None
        subject, minute = event.client_id, int(event.recorded // 60)
        current, count = self._minute.get(subject, (minute, 0))
        if current != minute:
            self._roll(subject, count, minute - current)
            count = 0
        count += 1
        self._minute[subject] = (minute, count)
        baseline = self._baseline.get(subject, 0.0)
        if count != max(self.floor, int(self.factor * baseline) + 1):
            return None  # alert once, when the minute crosses the line
        explanation = (
            f"{count} requests this minute, over {self.factor:g}x the client's baseline "
            f"({baseline:.1f}/min) and the floor of {self.floor}/min"
        )
        return _alert(self.name, Severity.medium, event, explanation)

    def _roll(self, subject: str, count: int, minutes: int) -> None:
        baseline = self._baseline.get(subject, float(count))
        baseline = (1 - self.ALPHA) * baseline + self.ALPHA * count
        baseline *= (1 - self.ALPHA) ** max(0, min(minutes - 1, 1000))  # idle minutes count as zero
        self._baseline[subject] = baseline


class OffHours:
    name = "off-hours"

    def __init__(self, s: DetectorSettings) -> None:
        self.start, self.end = s.business_hours
        self.offset = s.utc_offset_hours * 3600

    def observe(self, event: Observed) -> Alert | None:
        if event.kind != "exchange" or not event.patients:
            return None
        hour = int(((event.recorded + self.offset) % 86400) // 3600)
        if self.start <= hour < self.end:
            return None
        explanation = (
            f"patient data read at {hour:02d}h, outside business hours {self.start:02d}-{self.end:02d}h"
        )
        return _alert(self.name, Severity.low, event, explanation)


class NewNetwork:
    name = "new-network"

    def __init__(self, s: DetectorSettings) -> None:
        self.prefix = s.new_network_prefix
        self._known: dict[str, set[str]] = {}

    def observe(self, event: Observed) -> Alert | None:
        if event.kind != "exchange" or event.client_id is None or not event.source_ip:
            return None
        try:
            network = str(ipaddress.ip_network(f"{event.source_ip}/{self.prefix}", strict=False))
        except ValueError:
            return None
        known = self._known.setdefault(event.client_id, set())
        if network in known:
            return None
        first = not known
        known.add(network)
        if first:
            return None
        return _alert(self.name, Severity.medium, event, f"first request from network {network}")


Factory = Callable[[DetectorSettings], Detector]
DETECTORS: dict[str, Factory] = {
    AuthFailures.name: AuthFailures,
    RestrictedAttempts.name: RestrictedAttempts,
    DistinctPatients.name: DistinctPatients,
    HoneyPatients.name: HoneyPatients,
    Volume.name: Volume,
    BulkOperations.name: BulkOperations,
}
OPTIONAL: dict[str, Factory] = {OffHours.name: OffHours, NewNetwork.name: NewNetwork}


def build_detectors(s: DetectorSettings) -> list[Detector]:
    detectors = [factory(s) for factory in DETECTORS.values()]
    if s.off_hours:
        detectors.append(OffHours(s))
    if s.new_network:
        detectors.append(NewNetwork(s))
    return detectors
