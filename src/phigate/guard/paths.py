"""Path and header hygiene, checked on the raw request before any other stage reads it.

The path is taken as raw bytes, still percent-encoded, so that every trick is
seen before a decoder can hide it: encoded slashes, backslashes and dots
(``%2f %5c %2e``), double encoding (``%25``), dot segments, empty segments,
null bytes, CR/LF, raw non-ASCII bytes and percent-encoded bytes that are not
valid UTF-8 (overlong forms such as ``%c0%ae``), ``;`` path parameters, and a
resource type in the wrong case (``/fhir/patient``: refused, not guessed).

Headers: names must be tokens and values free of CR, LF and NUL; one
``Content-Length`` at most, all digits; ``Transfer-Encoding`` only as exactly
``chunked`` and never together with ``Content-Length`` (request smuggling,
ASVS 4.2.1); and no repeated ``Host``, ``Authorization`` or ``Content-Type``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from phigate.fhir.resources import RESOURCE_TYPES
from phigate.guard.issues import Issue

Header = tuple[bytes | str, bytes | str]

MAX_PATH_BYTES = 2048
_TYPES_BY_LOWER = {name.lower(): name for name in RESOURCE_TYPES}
_FORBIDDEN_ENCODED = re.compile(rb"%(2[fF]|5[cC]|2[eE]|25|00|0[aAdD])")
_PATH_CHARS = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,=:@/%]*")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SINGLE = (b"content-length", b"transfer-encoding", b"host", b"authorization", b"content-type")


def _issue(where: str, rule: str, message: str) -> Issue:
    return Issue(where, rule, message, 400, "security")


def check_raw_path(raw: bytes, base: str = "/fhir") -> list[Issue]:
    """Problems of the raw request target's path (a query after ``?`` is ignored here)."""
    path = raw.split(b"?", 1)[0]
    if len(path) > MAX_PATH_BYTES:
        return [Issue("path", "path.too-long", "The request path is too long.", 414, "too-costly")]
    if not path.startswith(b"/"):
        return [_issue("path", "path.not-absolute", "The request path must start with '/'.")]
    if not _PATH_CHARS.fullmatch(path):
        return [
            _issue(
                "path",
                "path.characters",
                "The request path has a character that must be encoded "
                "or is not allowed (control, space, backslash, non-ASCII, ';' or '#').",
            )
        ]
    if _FORBIDDEN_ENCODED.search(path):
        return [
            _issue(
                "path",
                "path.encoded-separator",
                "The request path encodes a slash, backslash, dot, percent, NUL or line break.",
            )
        ]
    decoded = _decode(path)
    if decoded is None:
        return [_issue("path", "path.utf8", "The request path does not decode to valid UTF-8.")]
    return _segment_issues(decoded, base)


def _decode(path: bytes) -> str | None:
    try:
        return _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), path).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _segment_issues(path: str, base: str) -> list[Issue]:
    segments = path.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        return [_issue("path", "path.dot-segment", "The request path has a '.' or '..' segment.")]
    if "" in segments[:-1]:
        return [_issue("path", "path.empty-segment", "The request path has an empty segment ('//').")]
    below = path[len(base) :] if path == base or path.startswith(base + "/") else None
    if below:
        first = below.split("/")[1] if below.count("/") >= 1 else ""
        known = _TYPES_BY_LOWER.get(first.lower())
        if known is not None and known != first:
            return [_issue("path", "path.type-case", f"Resource types are case-sensitive: use '{known}'.")]
    return []


def check_headers(headers: Sequence[Header]) -> list[Issue]:
    """Problems of the request's header list (names as sent; values raw)."""
    issues: list[Issue] = []
    counts: dict[bytes, int] = {}
    for raw_name, raw_value in headers:
        name, value = _bytes(raw_name), _bytes(raw_value)
        if not _TOKEN.fullmatch(name):
            issues.append(_issue("headers", "header.name", "A header name is not a valid token."))
            continue
        lower = name.lower()
        if any(ch in value for ch in (b"\r", b"\n", b"\x00")):
            issues.append(_issue(_name(lower), "header.control", "A header value holds CR, LF or NUL."))
        counts[lower] = counts.get(lower, 0) + 1
    for name in _SINGLE:
        if counts.get(name, 0) > 1:
            issues.append(_issue(_name(name), "header.duplicate", "This header may appear only once."))
    return issues + _framing(headers, counts)


def _framing(headers: Sequence[Header], counts: dict[bytes, int]) -> list[Issue]:
    values = {_bytes(n).lower(): _bytes(v) for n, v in headers}
    issues = []
    length = values.get(b"content-length")
    if length is not None and not re.fullmatch(rb"[0-9]{1,15}", length):
        issues.append(
            _issue("Content-Length", "header.content-length", "Content-Length must be digits only.")
        )
    encoding = values.get(b"transfer-encoding")
    if encoding is not None:
        if counts.get(b"content-length"):
            issues.append(
                _issue(
                    "Transfer-Encoding",
                    "header.smuggling",
                    "Transfer-Encoding and Content-Length must not both be sent.",
                )
            )
        if encoding != b"chunked":
            issues.append(
                _issue(
                    "Transfer-Encoding",
                    "header.transfer-encoding",
                    "Transfer-Encoding may only be exactly 'chunked'.",
                )
            )
    return issues


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1", "replace")


def _name(lower: bytes) -> str:
    return lower.decode("ascii", "replace").title()
