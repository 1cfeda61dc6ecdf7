"""Strict, bounded JSON parsing of a request body: parsed once, or refused with the JSON path.

Refused, each as an :class:`~phigate.guard.issues.Issue` inside
:class:`~phigate.guard.issues.InputRefused` (status 413 for size, 400 otherwise):
a body over ``max_bytes``; nesting deeper than ``max_depth`` (measured by a
regex scan before parsing, so a deep body never reaches a recursive parser);
invalid UTF-8 (overlong forms and encoded surrogates included) and a byte-order
mark; a lone surrogate written as an escape (``"\\ud800"``); a duplicate key;
``NaN`` / ``Infinity``; an integer outside the signed 64-bit range; a float that
overflows. Messages name the JSON path (``$.entry[3].resource.id``), never a value.

The happy path costs one C-speed scan and one ``json.loads``; the Python-level
walk that finds the path of a problem runs only when a hook has flagged one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from phigate.guard.issues import InputRefused, Issue

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_MAX_INT_DIGITS = 20  # enough for any 64-bit integer; longer is refused before int() runs
# A string token or a bracket. The closing quote is optional so that an unterminated
# string is consumed to the end in one match: a required quote would make every
# later quote restart a failing scan (quadratic on ``"\"\"\"...``).
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
# An escaped backslash is consumed first, so ``\\ud800`` (a backslash, then text) is not an escape.
_SURROGATE = re.compile(
    r"(?P<bs>\\\\)|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(?P<lone>\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
)
_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


class _Bad:
    """A placeholder the hooks put where a value is refused; ``rule`` says why."""

    __slots__ = ("rule",)

    def __init__(self, rule: str) -> None:
        self.rule = rule


class _Object(dict[str, Any]):
    """A JSON object that had a duplicate key (only built when one was seen)."""

    duplicate = True


_MESSAGES = {
    "json.duplicate-key": "An object has a duplicate key.",
    "json.non-finite": "NaN and Infinity are not JSON numbers.",
    "json.integer-range": "An integer does not fit in 64 bits.",
    "json.float-range": "A number is too large.",
    "json.lone-surrogate": "A string holds a lone UTF-16 surrogate.",
}


def parse_json(body: bytes, max_bytes: int, max_depth: int) -> Any:
    """The parsed value of ``body``; raise :class:`InputRefused` when it breaks a rule above."""
    if len(body) > max_bytes:
        raise _refuse("$", "json.too-large", f"The body is larger than {max_bytes} bytes.", 413)
    text = _decode(body)
    depth_scan(text, max_depth)
    lone = surrogate_escapes(text)
    flagged: list[bool] = [lone]
    try:
        value = json.loads(
            text,
            object_pairs_hook=lambda pairs: _object(pairs, flagged),
            parse_int=lambda raw: _int(raw, flagged),
            parse_float=lambda raw: _float(raw, flagged),
            parse_constant=lambda raw: _flag(flagged, _Bad("json.non-finite")),
        )
    except json.JSONDecodeError as exc:
        raise _refuse(
            "$", "json.syntax", f"The body is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:  # unreachable after depth_scan; kept so no input can crash the gateway
        raise _refuse("$", "json.too-deep", "The body is nested too deeply.") from None
    if flagged[0]:
        problems = list(_problems(value, "$"))
        if problems:
            raise InputRefused(problems)
    return value


def _decode(body: bytes) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        raise _refuse("$", "json.bom", "The body must not start with a byte-order mark.")
    try:
        # Strict UTF-8 refuses overlong forms, encoded surrogates and code points past U+10FFFF.
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse("$", "json.utf8", f"The body is not valid UTF-8 (byte {exc.start}).") from None


def depth_scan(text: str, max_depth: int) -> int:
    """The deepest nesting of ``text`` (strings skipped); raise once it passes ``max_depth``.

    Linear and iterative: unbalanced or malformed input just yields some depth; the
    parser reports the syntax error afterwards.
    """
    depth = deepest = 0
    for match in _TOKEN.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise _refuse("$", "json.too-deep", f"The body is nested deeper than {max_depth} levels.")
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def surrogate_escapes(text: str) -> bool:
    """True when ``text`` escapes a lone UTF-16 surrogate (``\\ud800`` not paired)."""
    if "\\u" not in text and "\\U" not in text:
        return False
    return any(match.group("lone") for match in _SURROGATE.finditer(text))


def _flag(flagged: list[bool], value: Any) -> Any:
    flagged[0] = True
    return value


def _object(pairs: list[tuple[str, Any]], flagged: list[bool]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    flagged[0] = True
    return _Object(pairs)


def _int(raw: str, flagged: list[bool]) -> Any:
    if len(raw.lstrip("-")) > _MAX_INT_DIGITS:
        return _flag(flagged, _Bad("json.integer-range"))
    value = int(raw)
    return value if INT_MIN <= value <= INT_MAX else _flag(flagged, _Bad("json.integer-range"))


def _float(raw: str, flagged: list[bool]) -> Any:
    value = float(raw)
    return value if math.isfinite(value) else _flag(flagged, _Bad("json.float-range"))


def _problems(value: Any, path: str) -> Iterator[Issue]:
    # Iterative, so a deep (already depth-checked) value cannot exhaust the stack either.
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _Bad):
            yield Issue(where, item.rule, _MESSAGES[item.rule], 400)
        elif isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                yield Issue(where, "json.lone-surrogate", _MESSAGES["json.lone-surrogate"], 400)
        elif isinstance(item, dict):
            if isinstance(item, _Object):
                yield Issue(where, "json.duplicate-key", _MESSAGES["json.duplicate-key"], 400)
            for key, child in item.items():
                stack.append((key, where))
                stack.append((child, member_path(where, key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))


def member_path(parent: str, key: str) -> str:
    """``$.name``, or ``$[?]`` for a key that is not a plain name (it is never echoed)."""
    return f"{parent}.{key}" if _SAFE_KEY.fullmatch(key) else f"{parent}[?]"


def _refuse(path: str, rule: str, message: str, status: int = 400) -> InputRefused:
    return InputRefused([Issue(path, rule, message, status)])
