"""What shaping did to one response, counted by rule: the audit fact. Never a value, never an id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    contract: str
    entries_removed: Counter[str] = field(default_factory=Counter)  # reason -> entries
    elements_removed: Counter[str] = field(default_factory=Counter)  # allowlist rule -> elements
    masked_by: Counter[str] = field(default_factory=Counter)  # masking rule -> values transformed
    redacted_by: Counter[str] = field(default_factory=Counter)  # masking rule -> values removed
    encrypted: str | None = None  # "jwe:<alg>:<kid>" when the response left encrypted

    def entry_removed(self, reason: str) -> None:
        self.entries_removed[reason] += 1

    def element_removed(self, rule: str, count: int = 1) -> None:
        self.elements_removed[rule] += count

    def masked(self, rule: str) -> None:
        self.masked_by[rule] += 1

    def removed_by_rule(self, rule: str) -> None:
        self.redacted_by[rule] += 1

    @property
    def changed(self) -> bool:
        return bool(self.entries_removed or self.elements_removed or self.masked_by or self.redacted_by)

    def as_fact(self) -> dict[str, Any]:
        fact: dict[str, Any] = {"contract": self.contract}
        for name in ("entries_removed", "elements_removed", "masked_by", "redacted_by"):
            counts: Counter[str] = getattr(self, name)
            if counts:
                fact[name] = dict(sorted(counts.items()))
        if self.encrypted is not None:
            fact["encrypted"] = self.encrypted
        return fact
