"""Percent-decoding and -encoding for FHIR paths and query strings, done once and strictly.

Rules (chosen so that a decoded value means exactly one thing):

- ``%XX`` must be two hex digits; any other ``%`` is an error, never kept literally.
- Decoded bytes must be valid UTF-8.
- ``+`` is a literal plus in a URL query (RFC 3986), so an unencoded time zone such
  as ``2024-01-01T00:00:00+01:00`` survives; only in a form body
  (``application/x-www-form-urlencoded``) is ``+`` a space.
- Control characters (C0, DEL and C1) are refused after decoding.

Encoding writes ``+`` as ``%2B`` and space as ``%20``, so its output decodes the
same way under both rules.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Characters left unencoded when rendering; everything else is percent-encoded.
KEY_SAFE = ":.-_"
VALUE_SAFE = "-_.~:/,$|*@!'()"


class DecodeError(ValueError):
    """The text is not validly percent-encoded UTF-8 or holds a control character."""


def percent_decode(text: str, *, form: bool = False) -> str:
    """Decode ``text`` once; raise :class:`DecodeError` on a malformed escape or a control character."""
    if form:
        text = text.replace("+", " ")
    if "%" in text:
        if _BAD_PERCENT.search(text):
            raise DecodeError("malformed percent escape")
        try:
            text = unquote_to_bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("not UTF-8") from exc
    if has_control(text):
        raise DecodeError("control character")
    return text


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def encode_key(text: str) -> str:
    return quote(text, safe=KEY_SAFE)


def encode_value(text: str) -> str:
    return quote(text, safe=VALUE_SAFE)
