"""The FHIR R4 (4.0.1) structure: every resource and data type, element by element.

Read from ``r4_structure.json``, generated from the official StructureDefinitions by
``tools/gen_guard_tables.py``. A type maps each JSON property name to an
:class:`ElementSpec`; a choice element ``value[x]`` appears once per allowed type
(``valueQuantity``, ``valueString``...). Backbone elements are types named by
their path (``Observation.component``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_TABLE: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("r4_structure.json").read_text(encoding="utf-8")
)

# Primitive types whose JSON form is a number or a boolean, not a string.
JSON_NUMBERS = frozenset({"integer", "positiveInt", "unsignedInt", "decimal"})
INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "positiveInt": (1, 2**31 - 1), "unsignedInt": (0, 2**31 - 1)}

# The spec's base64Binary regex ``(\s*([0-9a-zA-Z\+/=]){4}\s*)+`` backtracks
# exponentially on long whitespace runs; this one is linear and accepts the same
# alphabet (the length is checked apart, without the whitespace).
_OVERRIDES = {"base64Binary": r"[A-Za-z0-9+/=\s]+"}


@dataclass(frozen=True, slots=True)
class ElementSpec:
    name: str  # the element name in the definition (``value[x]`` for a choice)
    type: str  # the FHIR type of this JSON property
    min: int
    many: bool
    prohibited: bool = False

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    # ASCII: the spec's \s means XML Schema whitespace; a non-breaking space is text.
    return None if pattern is None else re.compile(pattern, re.ASCII)


PRIMITIVE_PATTERNS: Mapping[str, re.Pattern[str] | None] = {
    name: _compile(_OVERRIDES.get(name, pattern)) for name, pattern in _TABLE["primitives"].items()
}
COMPLEX_TYPES = frozenset(_TABLE["types"])


def is_primitive(type_name: str) -> bool:
    return type_name in PRIMITIVE_PATTERNS


@cache
def elements(type_name: str) -> Mapping[str, ElementSpec]:
    """JSON property name -> spec for one complex type or resource (empty if unknown)."""
    specs: dict[str, ElementSpec] = {}
    for name, (minimum, many, types) in _TABLE["types"].get(type_name, {}).items():
        if name.endswith("[x]"):
            stem = name[:-3]
            for choice in types:
                key = stem + choice[0].upper() + choice[1:]
                specs[key] = ElementSpec(name, choice, minimum, many == 1, many == -1)
        else:
            specs[name] = ElementSpec(name, types[0], minimum, many == 1, many == -1)
    return specs


@cache
def required(type_name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(element name, the JSON properties that satisfy it) for each element with ``min >= 1``."""
    found: dict[str, list[str]] = {}
    for key, spec in elements(type_name).items():
        if spec.min >= 1:
            found.setdefault(spec.name, []).append(key)
    return tuple((name, tuple(keys)) for name, keys in found.items())
