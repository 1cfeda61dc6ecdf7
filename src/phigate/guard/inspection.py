"""Payload inspection: a versioned rule set of injection patterns, applied to every string.

The rules are data (``inspection_rules.json`` in this package, or any mapping of
the same shape passed to :meth:`RuleSet.from_mapping`), each with an id, a class
(sql, nosql, script, command, ldap, template, path, xhtml) and the targets it
applies to: ``value`` (every JSON string value and every search value), ``key``
(JSON object keys, where NoSQL operators such as ``$where`` hide) and ``xhtml``.

FHIR narrative (``text.div``) is XHTML by design, so the general script/HTML rules
would flag every resource; it gets its own rules instead, after HTML entity
decoding: FHIR's restricted XHTML has no script, form, embedded object, event
handler attribute or ``javascript:`` URL.

Each hit is an :class:`~phigate.guard.issues.Issue` naming the rule and the place
(FHIRPath or parameter name), never the matched text; ``mode="report"`` makes the
hits non-blocking (report-only) while still returning them for audit and metrics.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from phigate.errors import ConfigError
from phigate.guard.issues import Issue

Mode = Literal["block", "report"]
TARGETS = ("value", "key", "xhtml")
_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
MAX_VALUE_CHARS = 1024 * 1024  # longer strings are inspected in their first and last part


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    rule_class: str
    pattern: re.Pattern[str]
    targets: frozenset[str]
    literals: tuple[str, ...]  # lower-case; every match contains one, so text without any is skipped


@dataclass(frozen=True, slots=True)
class _TargetRules:
    """The rules of one target behind one trigger: a string holding none of their literals is clean."""

    trigger: re.Pattern[str] | None
    rules: tuple[Rule, ...]

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> _TargetRules:
        chosen = tuple(rules)
        literals = sorted({literal for rule in chosen for literal in rule.literals}, key=len, reverse=True)
        trigger = re.compile("|".join(map(re.escape, literals)), re.IGNORECASE) if literals else None
        return cls(trigger, chosen)

    def scan(self, text: str) -> Rule | None:
        if self.trigger is None or self.trigger.search(text) is None:
            return None
        lowered = text.lower()
        for rule in self.rules:
            if any(literal in lowered for literal in rule.literals) and rule.pattern.search(text):
                return rule
        return None


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    _targets: dict[str, _TargetRules] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for target in TARGETS:
            self._targets[target] = _TargetRules.of(rule for rule in self.rules if target in rule.targets)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RuleSet:
        """Build from ``{"version", "rules": [{id, class, targets, pattern, literals}]}``."""
        problems: list[str] = []
        rules = [
            rule for index, raw in enumerate(data.get("rules", [])) if (rule := _rule(index, raw, problems))
        ]
        if not isinstance(data.get("version"), str) or not data["version"]:
            problems.append("inspection.version: must be a non-empty string")
        if len({rule.id for rule in rules}) != len(rules):
            problems.append("inspection.rules: rule ids must be unique")
        if problems:
            raise ConfigError(problems=problems)
        return cls(str(data["version"]), tuple(rules))

    def without(self, rule_ids: Iterable[str]) -> RuleSet:
        """This set minus some rules (a route's documented exceptions)."""
        skip = frozenset(rule_ids)
        return RuleSet(self.version, tuple(rule for rule in self.rules if rule.id not in skip))

    def scan(self, text: str, target: str) -> Rule | None:
        """The first rule of ``target`` (in rule-set order) that matches ``text``, if any."""
        if len(text) > MAX_VALUE_CHARS:
            text = text[: MAX_VALUE_CHARS // 2] + "\n" + text[-MAX_VALUE_CHARS // 2 :]
        return self._targets[target].scan(text)


def _rule(index: int, raw: Any, problems: list[str]) -> Rule | None:
    where = f"inspection.rules.{index}"
    if not isinstance(raw, Mapping) or not all(
        isinstance(raw.get(k), str) for k in ("id", "class", "pattern")
    ):
        problems.append(f"{where}: needs string id, class and pattern")
        return None
    targets = raw.get("targets")
    if not isinstance(targets, list) or not targets or any(t not in TARGETS for t in targets):
        problems.append(f"{where}.targets: must be a non-empty list of {', '.join(TARGETS)}")
        return None
    try:
        pattern = re.compile(raw["pattern"], re.IGNORECASE)
    except re.error:
        problems.append(f"{where}.pattern: not a valid regular expression")
        return None
    literals = raw.get("literals")
    if not isinstance(literals, list) or not literals or not all(isinstance(x, str) and x for x in literals):
        problems.append(f"{where}.literals: must be a non-empty list of strings")
        return None
    return Rule(raw["id"], raw["class"], pattern, frozenset(targets), tuple(x.lower() for x in literals))


def default_rules() -> RuleSet:
    """The rule set shipped with phigate (its ``version`` goes into audit facts)."""
    text = resources.files(__package__).joinpath("inspection_rules.json").read_text(encoding="utf-8")
    return RuleSet.from_mapping(json.loads(text))


def _hit(rule: Rule, where: str, mode: Mode) -> Issue:
    message = f"The value matches an injection pattern ({rule.rule_class})."
    return Issue(where, rule.id, message, 400, "security", blocking=mode == "block")


def inspect_params(params: Iterable[tuple[str, str]], rules: RuleSet, mode: Mode = "block") -> list[Issue]:
    """Inspect decoded ``(name, value)`` pairs of a query or form; a hit is named by the parameter."""
    issues = []
    for name, value in params:
        rule = rules.scan(name, "value") or rules.scan(value, "value")
        if rule is not None:
            issues.append(_hit(rule, name if _SAFE_KEY.fullmatch(name) else "(parameter)", mode))
    return issues


def inspect_json(value: Any, rules: RuleSet, mode: Mode = "block", root: str | None = None) -> list[Issue]:
    """Inspect every key and string of a parsed JSON body; hits are named by FHIRPath."""
    if root is None:
        kind = value.get("resourceType") if isinstance(value, dict) else None
        root = kind if isinstance(kind, str) and _SAFE_KEY.fullmatch(kind) else "$"
    issues = []
    for node, text, target in _strings(value):
        rule = rules.scan(html.unescape(text) if target == "xhtml" else text, target)
        if rule is not None:
            issues.append(_hit(rule, _path(root, node), mode))
    return issues


# A place in the document: (parent place, key or index); paths are only spelled out for a hit.
_Node = tuple[Any, str | int] | None


def _strings(value: Any) -> Iterator[tuple[_Node, str, str]]:
    """(place, text, target) for every key and string, iteratively (no recursion on deep input)."""
    stack: list[tuple[Any, _Node, bool]] = [(value, None, False)]
    while stack:
        item, node, narrative = stack.pop()
        if isinstance(item, str):
            yield node, item, "xhtml" if narrative else "value"
        elif isinstance(item, dict):
            for key, child in item.items():
                yield node, key, "key"
                # Narrative.div: a ``div`` under a ``text`` element.
                is_div = key == "div" and node is not None and node[1] == "text"
                stack.append((child, (node, key), is_div))
        elif isinstance(item, list):
            stack.extend((child, (node, index), narrative) for index, child in enumerate(item))


def _path(root: str, node: _Node) -> str:
    parts: list[str] = []
    while node is not None:
        node, step = node
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(f".{step}" if _SAFE_KEY.fullmatch(step) else "[?]")
    return root + "".join(reversed(parts))
