"""One synthetic patient's chart while it is being generated: who they are and what happened when."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from phigate.demo.vocabulary import Disorder, Panel, Visit


@dataclass(frozen=True)
class PatientContext:
    """What every builder needs to know about the patient whose chart it writes."""

    rng: random.Random
    key: str
    gender: str
    birth: date
    tz: timezone
    reference: datetime
    practitioners: tuple[str, ...]
    hospital: str
    laboratory: str

    @property
    def patient(self) -> str:
        return f"Patient/pat-{self.key}"

    def age_on(self, when: date) -> int:
        before_birthday = (when.month, when.day) < (self.birth.month, self.birth.day)
        return when.year - self.birth.year - int(before_birthday)


@dataclass
class VisitRecord:
    """One encounter and what was done at it, kept so that billing can charge for it."""

    encounter_id: str
    visit: Visit
    start: datetime
    end: datetime
    practitioner: str
    diagnoses: list[str] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    vaccines: int = 0


@dataclass
class Chart:
    """The resources written for one patient, in the order they were made."""

    context: PatientContext
    resources: list[dict[str, Any]] = field(default_factory=list)
    visits: list[VisitRecord] = field(default_factory=list)
    disorders: list[Disorder] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def next_id(self, prefix: str, width: int = 2) -> str:
        number = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = number
        return f"{prefix}-{self.context.key}-{number:0{width}d}"

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources.append(resource)
        return resource

    def has(self, disorder_code: str) -> bool:
        return any(d.code == disorder_code for d in self.disorders)
