"""A masking profile: ordered rules over element paths, applied to one resource at a time.

Rules run in order and the first rule that reaches a primitive element wins it
(a ``keep`` before a broad ``redact`` protects what it names). A rule on a
complex element applies to each primitive inside it that no earlier rule took;
``substitute`` replaces the element as a whole when nothing inside was taken.
Elements emptied by removal are pruned, and the resource is labelled in
``meta.security``: REDACTED when something was removed, PSEUDED when
pseudonymised, MASKED when otherwise transformed (v3-ObservationValue).

Counts go to a :class:`~phigate.shaping.tally.Tally` by rule label, never a value.

``encrypt`` (issue 7) seals an element in place, as a whole like ``substitute``:
its value (primitive or complex) becomes one string, a compact JWE whose
plaintext is the JSON of the original value (header ``cty`` application/json,
``kid`` the client's registered key). The resource stays valid JSON and says
where it was sealed: ``meta.extension`` gains one entry per element,
``{"url": ENCRYPTED_ELEMENT_URL, "valueString": "<location>"}``, the location
being dotted keys and list indexes from the resource root (``identifier.0``,
``birthDate``). A client decrypts the string at each location with its private
key and puts the parsed JSON back. Without a sealer the element is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from phigate.policy.elements import compartment_paths, values_at
from phigate.settings.contracts import MaskRuleSettings
from phigate.shaping.methods import REMOVED, MaskContext, apply
from phigate.shaping.paths import ElementPath, Location, Tree, get
from phigate.shaping.pseudonyms import VendorKeys
from phigate.shaping.tally import Tally

SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
_LABELS = {"REDACTED": "redacted", "PSEUDED": "pseudonymized", "MASKED": "masked"}
_LABEL_OF = {"redact": "REDACTED", "cryptoHash": "PSEUDED"}
ENCRYPTED_ELEMENT_URL = "https://phigate.dev/fhir/StructureDefinition/encrypted-element"
_WHOLE = frozenset({"substitute", "encrypt"})  # methods that replace the selected element as a whole
# Seals one element's value (any JSON value) for the client: a compact JWE string.
Sealer = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class MaskRule:
    label: str  # "rules.2 nodesByType('Identifier') redact": safe to record
    path: ElementPath
    settings: MaskRuleSettings

    @property
    def method(self) -> str:
        return self.settings.method


@dataclass(frozen=True, slots=True)
class MaskProfile:
    rules: tuple[MaskRule, ...]

    @classmethod
    def build(cls, labelled: Iterable[tuple[str, MaskRuleSettings]]) -> MaskProfile:
        """Raises :class:`~phigate.shaping.paths.PathError` for a path outside the grammar."""
        return cls(tuple(MaskRule(label, ElementPath.parse(rule.path), rule) for label, rule in labelled))

    @property
    def seals(self) -> bool:
        """Whether any rule encrypts elements (the client then needs a registered encryption key)."""
        return any(rule.method == "encrypt" for rule in self.rules)

    def mask(
        self, resource: dict[str, Any], keys: VendorKeys, now: float, tally: Tally, seal: Sealer | None = None
    ) -> None:
        """Mask ``resource`` in place (not its contained resources: call again for each)."""
        resource_type = resource.get("resourceType")
        rules = [r for r in self.rules if not r.path.resource_types or resource_type in r.path.resource_types]
        if not rules:
            return
        actions, substitutes = _claims(resource, rules)
        if not actions and not substitutes:
            return
        ctx = MaskContext(keys, _patient_scope(resource), now)
        labels: set[str] = set()
        for location, rule in actions:
            _apply_leaf(resource, location, rule, ctx, tally, labels)
        for location, rule in substitutes:
            if rule.method == "encrypt":
                _seal(resource, location, rule, seal, tally, labels)
                continue
            _set(resource, location, rule.settings.replace_with)
            tally.masked(rule.label)
            labels.add("MASKED")
        if "REDACTED" in labels:
            _prune(resource)
        _label(resource, labels)


def _claims(
    resource: dict[str, Any], rules: list[MaskRule]
) -> tuple[list[tuple[Location, MaskRule]], list[tuple[Location, MaskRule]]]:
    tree = Tree.of(resource)
    claimed: dict[Location, MaskRule] = {}
    substitutes: list[tuple[Location, MaskRule]] = []
    for rule in rules:
        for location in rule.path.select(tree):
            inside = tree.leaves_under(location)
            if rule.method in _WHOLE:
                if inside and not any(leaf in claimed for leaf in inside):
                    claimed.update(dict.fromkeys(inside, rule))
                    substitutes.append((location, rule))
                continue
            for leaf in inside:
                claimed.setdefault(leaf, rule)
    actions = [(leaf, r) for leaf, r in claimed.items() if r.method != "keep" and r.method not in _WHOLE]
    return actions, substitutes


def _apply_leaf(
    resource: dict[str, Any], location: Location, rule: MaskRule, ctx: MaskContext, tally: Tally,
    labels: set[str],
) -> None:  # fmt: skip
    key = next((step for step in reversed(location) if isinstance(step, str)), "")
    value = get(resource, location)
    where = ".".join(str(step) for step in location)
    masked = apply(rule.method, rule.settings, key, value, ctx, where)
    _set(resource, location, masked)
    if masked is REMOVED:
        tally.removed_by_rule(rule.label)
        labels.add("REDACTED")
    else:
        tally.masked(rule.label)
        labels.add(_LABEL_OF.get(rule.method, "MASKED"))


def _seal(
    resource: dict[str, Any], location: Location, rule: MaskRule, seal: Sealer | None, tally: Tally,
    labels: set[str],
) -> None:  # fmt: skip
    if seal is None:  # no key to seal with: the element never leaves in the clear
        _set(resource, location, REMOVED)
        tally.removed_by_rule(rule.label)
        labels.add("REDACTED")
        return
    _set(resource, location, seal(get(resource, location)))
    tally.masked(rule.label)
    labels.add("MASKED")
    where = ".".join(str(step) for step in location)
    extensions = resource.setdefault("meta", {}).setdefault("extension", [])
    extensions.append({"url": ENCRYPTED_ELEMENT_URL, "valueString": where})


def _set(resource: dict[str, Any], location: Location, value: Any) -> None:
    parent = get(resource, location[:-1])
    parent[location[-1]] = value


def _prune(node: Any) -> Any:
    """Drop REMOVED values and what they leave empty; REMOVED when ``node`` itself empties."""
    if isinstance(node, dict):
        for key in list(node):
            if _prune(node[key]) is REMOVED:
                del node[key]
        return node if node else REMOVED
    if isinstance(node, list):
        node[:] = [item for item in node if _prune(item) is not REMOVED]
        return node if node else REMOVED
    return node


def _label(resource: dict[str, Any], labels: set[str]) -> None:
    if not labels:
        return
    meta = resource.setdefault("meta", {})
    security = meta.setdefault("security", [])
    present = {item.get("code") for item in security if isinstance(item, dict)}
    for code in sorted(labels - present):
        security.append({"system": SECURITY_SYSTEM, "code": code, "display": _LABELS[code]})


def _patient_scope(resource: dict[str, Any]) -> str:
    """The patient a resource is about (dates shift together per patient), else the resource itself."""
    resource_type = str(resource.get("resourceType", ""))
    if resource_type == "Patient":
        return f"Patient/{resource.get('id', '')}"
    for path in compartment_paths(resource_type):
        for value in values_at(resource, path):
            reference = value.get("reference") if isinstance(value, dict) else None
            if isinstance(reference, str) and reference.startswith("Patient/"):
                return reference.split("/_history")[0]
    return f"{resource_type}/{resource.get('id', '')}"
