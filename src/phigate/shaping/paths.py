"""Element paths of masking rules: the FHIRPath subset the anonymizer's configurations use.

A path is one or more alternatives joined by ``|``; each is a head and dotted
element names::

    Patient.address.postalCode        a resource type (or Resource: any) and its elements
    nodesByType('Identifier').value   every node of a data type, then its elements
    nodesByName('extension')          every element of that name

As in FHIRPath, a step flattens lists, and a step naming a choice element
(``value``) selects any of its typed forms (``valueQuantity``, ``valueString``).
``nodesByType`` and ``nodesByName`` do not descend into contained resources or
the resources of Bundle entries: those are resources of their own and are
masked on their own. Data types are recognised by where they sit and by their
shape (JSON carries no type names); :data:`NODE_TYPES` lists what is known.

A location is the tuple of keys and list indices from the resource's root.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from phigate.shaping.dates import is_date_like

Location = tuple[str | int, ...]
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_FUNCTION = re.compile(r"(nodesByType|nodesByName)\('([A-Za-z][A-Za-z0-9]*)'\)")
_DATE_NAMES = frozenset({"birthDate"})


def _is_date(key: str, value: Any) -> bool:
    return isinstance(value, str) and (key in _DATE_NAMES or is_date_like(value))


def _keyed(*names: str) -> Callable[[str, Any], bool]:
    return lambda key, value: key in names and isinstance(value, dict)


NODE_TYPES: dict[str, Callable[[str, Any], bool]] = {
    "Identifier": lambda key, value: (
        (key == "identifier" or key.endswith("Identifier")) and isinstance(value, dict)
    ),
    "HumanName": lambda key, value: (
        isinstance(value, dict)
        and key == "name"
        and any(part in value for part in ("family", "given", "text", "prefix", "suffix"))
    ),
    "Address": lambda key, value: (key == "address" or key.endswith("Address")) and isinstance(value, dict),
    "ContactPoint": _keyed("telecom"),
    "Reference": lambda key, value: isinstance(value, dict) and isinstance(value.get("reference"), str),
    "Attachment": lambda key, value: isinstance(value, dict) and ("contentType" in value or "data" in value),
    "Narrative": lambda key, value: key == "text" and isinstance(value, dict) and "div" in value,
    "Annotation": _keyed("note"),
    "Extension": lambda key, value: key in ("extension", "modifierExtension"),
    "Quantity": lambda key, value: (
        isinstance(value, dict)
        and isinstance(value.get("value"), int | float)
        and not isinstance(value.get("value"), bool)
    ),
    "date": _is_date,
    "dateTime": _is_date,
    "instant": _is_date,
}


class PathError(ValueError):
    """A path outside the supported grammar; the message is safe to show (it quotes config)."""


@dataclass(frozen=True, slots=True)
class _Alternative:
    head_kind: str  # "type", "nodesByType" or "nodesByName"
    head: str
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ElementPath:
    text: str
    alternatives: tuple[_Alternative, ...]

    @classmethod
    def parse(cls, text: str) -> ElementPath:
        return cls(text, tuple(_parse_alternative(part.strip()) for part in text.split("|")))

    @property
    def resource_types(self) -> frozenset[str]:
        """The resource types the path is limited to (empty: any)."""
        heads = {alt.head for alt in self.alternatives if alt.head_kind == "type"}
        if len(heads) != len(self.alternatives) or heads & {"Resource", "DomainResource"}:
            return frozenset()
        return frozenset(heads)

    def select(self, resource: dict[str, Any] | Tree) -> list[Location]:
        """Locations of the nodes the path reaches in ``resource`` (not inside contained or entries)."""
        tree = resource if isinstance(resource, Tree) else Tree.of(resource)
        found: list[Location] = []
        for alt in self.alternatives:
            found.extend(_select(alt, tree))
        return list(dict.fromkeys(found)) if len(self.alternatives) > 1 else found


@dataclass(frozen=True, slots=True)
class Tree:
    """A resource walked once: its elements in document order, and where each one's subtree ends."""

    root: dict[str, Any]
    nodes: tuple[tuple[Location, str, Any], ...]
    index: dict[Location, int]
    ends: tuple[int, ...]
    typed: dict[str, list[tuple[Location, Any]]] = field(default_factory=dict)  # nodesByType, computed once

    @classmethod
    def of(cls, resource: dict[str, Any]) -> Tree:
        nodes = tuple(walk(resource))
        ends = [len(nodes)] * len(nodes)
        open_nodes: list[int] = []
        for i, (location, _, _) in enumerate(nodes):
            while open_nodes and nodes[open_nodes[-1]][0] != location[: len(nodes[open_nodes[-1]][0])]:
                ends[open_nodes.pop()] = i
            open_nodes.append(i)
        return cls(resource, nodes, {loc: i for i, (loc, _, _) in enumerate(nodes)}, tuple(ends))

    def of_type(self, type_name: str) -> list[tuple[Location, Any]]:
        found = self.typed.get(type_name)
        if found is None:
            recognise = NODE_TYPES[type_name]
            found = self.typed[type_name] = [
                (loc, value) for loc, key, value in self.nodes if recognise(key, value)
            ]
        return found

    def leaves_under(self, location: Location) -> list[Location]:
        """Primitive values at or below ``location`` (every one for the root)."""
        if location:
            start = self.index.get(location)
            if start is None:
                return []
            span = self.nodes[start : self.ends[start]]
        else:
            span = self.nodes
        return [loc for loc, _, value in span if not isinstance(value, dict | list)]


def _parse_alternative(text: str) -> _Alternative:
    function = _FUNCTION.match(text)
    if function is not None:
        kind, argument = function.group(1), function.group(2)
        if kind == "nodesByType" and argument not in NODE_TYPES:
            known = ", ".join(sorted(NODE_TYPES))
            raise PathError(f"nodesByType('{argument}') is not supported (known: {known})")
        rest = text[function.end() :]
        head_kind, head = kind, argument
    else:
        head_name, _, tail = text.partition(".")
        if not _NAME.fullmatch(head_name) or not head_name[:1].isupper():
            raise PathError(
                f"'{text[:80]}' must start with a resource type, nodesByType(...) or nodesByName(...)"
            )
        head_kind, head, rest = "type", head_name, ("." + tail if tail else "")
    if rest and not rest.startswith("."):
        raise PathError(f"'{text[:80]}' is not a supported path")
    steps = tuple(rest[1:].split(".")) if rest else ()
    for step in steps:
        if not _NAME.fullmatch(step):
            raise PathError(f"'{text[:80]}' has an element name that is not valid")
    return _Alternative(head_kind, head, steps)


def _select(alt: _Alternative, tree: Tree) -> Iterator[Location]:
    if alt.head_kind == "type":
        if alt.head not in ("Resource", "DomainResource", tree.root.get("resourceType")):
            return
        starts: list[tuple[Location, Any]] = [((), tree.root)]
    elif alt.head_kind == "nodesByName":
        starts = [(loc, value) for loc, key, value in tree.nodes if key == alt.head]
    else:
        starts = tree.of_type("date" if alt.head in ("dateTime", "instant") else alt.head)
    for location, node in starts:
        yield from _descend(location, node, alt.steps)


def _descend(location: Location, node: Any, steps: tuple[str, ...]) -> Iterator[Location]:
    if not steps:
        if isinstance(node, list) and location and not isinstance(location[-1], int):
            yield from ((*location, index) for index in range(len(node)))
        else:
            yield location
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _descend((*location, index), item, steps)
        return
    if not isinstance(node, dict):
        return
    step, rest = steps[0], steps[1:]
    for key, value in node.items():
        if key == step or (key.startswith(step) and key[len(step) : len(step) + 1].isupper()):
            yield from _descend((*location, key), value, rest)


def walk(resource: dict[str, Any]) -> Iterator[tuple[Location, str, Any]]:
    """Every element (location, name, value) of a resource; list items are yielded one by one.

    Contained resources and the resources of Bundle entries are skipped: they are masked on their own.
    """
    is_bundle = resource.get("resourceType") == "Bundle"
    for key, value in resource.items():
        if key in ("contained", "resourceType"):
            continue
        yield from _walk_value((key,), key, value, is_bundle and key == "entry")


def _walk_value(
    location: Location, key: str, value: Any, bundle_entries: bool
) -> Iterator[tuple[Location, str, Any]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_value((*location, index), key, item, bundle_entries)
        return
    yield location, key, value
    if isinstance(value, dict):
        for child_key, child in value.items():
            if bundle_entries and child_key == "resource":
                continue
            yield from _walk_value((*location, child_key), child_key, child, False)


def get(resource: Any, location: Location) -> Any:
    node = resource
    for step in location:
        node = node[step]
    return node
