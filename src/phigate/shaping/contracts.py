"""Data contracts, compiled once from ``contracts:``: what one client may ask for and receive.

:func:`compile_contracts` checks what the settings schema cannot (known
resource types, parameters the gateway can check on a resource, element paths
of masking rules) and raises one :class:`~phigate.errors.ConfigError` listing
every problem by key path. :meth:`ContractBook.for_client` picks the client's
contract, else its vendor's default, else none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phigate.errors import ConfigError
from phigate.fhir.resources import RESOURCE_TYPES
from phigate.fhir.search import split_escaped, split_prefix
from phigate.settings.contracts import ContractSettings, ContractsSettings, MaskRuleSettings
from phigate.shaping.constraints import DATE_PREFIXES, SearchConstraint, date_paths, is_checkable
from phigate.shaping.dates import date_range, render_relative
from phigate.shaping.masking import MaskProfile
from phigate.shaping.paths import PathError
from phigate.shaping.presets import PRESETS

# An allowlist as a tree: element name -> the allowlist below it (None: everything below).
ElementTree = Mapping[str, "ElementTree | None"]


@dataclass(frozen=True, slots=True)
class TypeTerms:
    resource_type: str
    key: str  # contracts.clients.acme-lab.resources.Observation
    interactions: frozenset[str]
    elements: ElementTree | None  # None: every element
    constraints: tuple[SearchConstraint, ...]


@dataclass(frozen=True, slots=True)
class ParameterRule:
    """A forbidden parameter: ``name``, ``name:modifier`` or ``name=value``, as configured."""

    text: str
    name: str
    modifier: str | None
    value: str | None

    @classmethod
    def parse(cls, text: str) -> ParameterRule:
        key, equals, value = text.partition("=")
        name, colon, modifier = key.partition(":")
        return cls(text, name, modifier if colon else None, value if equals else None)


@dataclass(frozen=True, slots=True)
class Contract:
    key: str  # contracts.clients.acme-lab (or contracts.vendors.acme-diagnostics)
    types: Mapping[str, TypeTerms]
    operations: frozenset[str]
    forbidden: tuple[ParameterRule, ...]
    max_page_size: int
    purposes: tuple[str, ...]
    masking: MaskProfile | None
    encrypt: bool
    encryption_keys: tuple[Mapping[str, Any], ...]

    @property
    def seals(self) -> bool:
        """Whether masking rules encrypt elements in place (``method: encrypt``)."""
        return self.masking is not None and self.masking.seals


class ContractBook:
    def __init__(self, clients: Mapping[str, Contract], vendors: Mapping[str, Contract]) -> None:
        self._clients = dict(clients)
        self._vendors = dict(vendors)

    def __bool__(self) -> bool:
        return bool(self._clients or self._vendors)

    def for_client(self, client_id: str, vendor_id: str) -> Contract | None:
        return self._clients.get(client_id) or self._vendors.get(vendor_id)

    def all(self) -> list[Contract]:
        return [*self._clients.values(), *self._vendors.values()]


def compile_contracts(settings: ContractsSettings) -> ContractBook:
    book, problems = compile_with_problems(settings)
    if problems:
        raise ConfigError(problems=problems)
    return book


def compile_with_problems(settings: ContractsSettings) -> tuple[ContractBook, list[str]]:
    """The book (of what could be compiled) and every problem found, for callers that check more."""
    problems: list[str] = []
    clients = _compile_all(settings.clients, "contracts.clients", problems)
    vendors = _compile_all(settings.vendors, "contracts.vendors", problems)
    return ContractBook(clients, vendors), problems


def _compile_all(raw: Mapping[str, ContractSettings], base: str, problems: list[str]) -> dict[str, Contract]:
    return {name: _compile(f"{base}.{name}", contract, problems) for name, contract in raw.items()}


def _compile(key: str, raw: ContractSettings, problems: list[str]) -> Contract:
    types = {}
    for name, terms in raw.resources.items():
        where = f"{key}.resources.{name}"
        if name not in RESOURCE_TYPES:
            problems.append(f"{where}: '{name}' is not a FHIR R4 resource type")
            continue
        constraints = tuple(_constraint(where, name, p, v, problems) for p, v in terms.search.items())
        elements = _tree(terms.elements) if terms.elements is not None else None
        types[name] = TypeTerms(name, where, frozenset(terms.interactions), elements, constraints)
    return Contract(
        key=key,
        types=types,
        operations=frozenset(raw.operations),
        forbidden=tuple(ParameterRule.parse(text) for text in raw.forbidden_parameters),
        max_page_size=raw.max_page_size,
        purposes=raw.purposes,
        masking=_masking(key, raw, problems),
        encrypt=raw.encryption.responses == "jwe",
        encryption_keys=raw.encryption.keys,
    )


def _constraint(
    where: str, resource_type: str, name: str, value: str, problems: list[str]
) -> SearchConstraint:
    constraint = SearchConstraint(name, value)
    if not is_checkable(resource_type, name):
        problems.append(
            f"{where}.search.{name}: the gateway cannot check '{name}' on a {resource_type} it returns "
            "(use a token parameter such as category or code, or a date parameter such as date)"
        )
    elif date_paths(resource_type, name):
        for alternative in split_escaped(constraint.render(0), ","):
            prefix, text = split_prefix(alternative)
            if (prefix is not None and prefix not in DATE_PREFIXES) or date_range(text) is None:
                problems.append(f"{where}.search.{name}: must be a date with ge, gt, le, lt or eq, "
                                "such as ge{now-90d} or ge2025-01-01")  # fmt: skip
                break
    elif render_relative(value, 0) != value:
        problems.append(f"{where}.search.{name}: a {{now}} template only fits a date parameter")
    return constraint


def _tree(paths: tuple[str, ...]) -> ElementTree:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        steps = path.split(".")
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            if last:
                node[step] = None
            elif node.get(step, {}) is None:
                break  # a shorter path already allows everything below
            else:
                node = node.setdefault(step, {})
    return tree


def _masking(key: str, raw: ContractSettings, problems: list[str]) -> MaskProfile | None:
    labelled: list[tuple[str, MaskRuleSettings]] = [
        (f"{key}.masking.rules.{i} {rule.path} {rule.method}", rule)
        for i, rule in enumerate(raw.masking.rules)
    ]
    preset = raw.masking.preset
    if preset is not None:
        labelled += [
            (f"{preset}.{i} {rule.path} {rule.method}", rule) for i, rule in enumerate(PRESETS[preset])
        ]
    if not labelled:
        return None
    try:
        return MaskProfile.build(labelled)
    except PathError as error:
        problems.append(f"{key}.masking.rules: {error}")
        return None
