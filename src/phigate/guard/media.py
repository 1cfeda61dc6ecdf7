"""Content negotiation: which body media types a request may carry, and which response format it gets.

A request body must be one of the FHIR media types its interaction takes
(:data:`BODY_TYPES`), else 415. Media types are parsed strictly (RFC 9110
grammar, no duplicate parameter); the only parameters taken are ``charset``
(must be UTF-8) and ``fhirVersion`` (must be R4, ``4.0``). The response format
comes from ``_format`` if given, else ``Accept``; when nothing acceptable is
offered, 406. Functions raise :class:`~phigate.guard.issues.InputRefused`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from phigate.fhir.request import Interaction
from phigate.guard.issues import InputRefused, Issue

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"


class BodyFormat(StrEnum):
    JSON = "json"
    XML = "xml"
    JSON_PATCH = "json-patch"
    FORM = "form"


_FORMATS = {
    FHIR_JSON: BodyFormat.JSON,
    JSON: BodyFormat.JSON,
    FHIR_XML: BodyFormat.XML,
    JSON_PATCH: BodyFormat.JSON_PATCH,
    FORM: BodyFormat.FORM,
}
_RESOURCE = frozenset({FHIR_JSON, JSON, FHIR_XML})
BODY_TYPES: dict[Interaction, frozenset[str]] = {
    Interaction.CREATE: _RESOURCE,
    Interaction.UPDATE: _RESOURCE,
    Interaction.PATCH: _RESOURCE | {JSON_PATCH},  # FHIRPath Patch is a Parameters resource
    Interaction.BATCH: _RESOURCE,
    Interaction.TRANSACTION: _RESOURCE,
    Interaction.OPERATION: _RESOURCE,
    Interaction.SEARCH: frozenset({FORM}),
}
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # noqa: S105 (an RFC 9110 token, not a secret)
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t !-~])*"'
_MEDIA = re.compile(rf"({_TOKEN})/({_TOKEN})")
_PARAM = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*")
_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    "xml": FHIR_XML,
    "text/json": FHIR_JSON,
    "text/xml": FHIR_XML,
    "application/xml": FHIR_XML,
    FHIR_JSON: FHIR_JSON,
    JSON: JSON,
    FHIR_XML: FHIR_XML,
}
_ANY_Q = 1.0


@dataclass(frozen=True, slots=True)
class MediaType:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.params if key == name), None)


def parse_media_type(text: str, where: str = "Content-Type") -> MediaType:
    """``type/subtype *(; name=value)``, lower-cased; quoted values unquoted. Raises 400 when malformed."""
    head, *raw_params = text.split(";")
    match = _MEDIA.fullmatch(head.strip(" \t"))
    if match is None:
        raise _refuse(where, "media.malformed", f"The {where} header is not a valid media type.", 400)
    params: list[tuple[str, str]] = []
    for raw in raw_params:
        param = _PARAM.fullmatch(raw)
        if param is None:
            raise _refuse(where, "media.malformed", f"The {where} header has a malformed parameter.", 400)
        name, value = param.group(1).lower(), param.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if any(name == seen for seen, _ in params):
            raise _refuse(where, "media.duplicate-param", f"The {where} header repeats a parameter.", 400)
        params.append((name, value))
    return MediaType(match.group(1).lower(), match.group(2).lower(), tuple(params))


def body_format(interaction: Interaction, content_type: str | None, *, allow_xml: bool = True) -> BodyFormat:
    """The format of a request body for ``interaction``; 415 if its media type is not taken there."""
    if content_type is None or not content_type.strip():
        raise _refuse("Content-Type", "media.missing", "A request with a body needs a Content-Type.", 415)
    media = parse_media_type(content_type)
    allowed = BODY_TYPES.get(interaction, frozenset())
    if media.essence not in allowed or (media.essence == FHIR_XML and not allow_xml):
        raise _refuse("Content-Type", "media.unsupported", "This media type is not accepted here.", 415)
    _check_params(media)
    return _FORMATS[media.essence]


def _check_params(media: MediaType) -> None:
    for name, value in media.params:
        if name == "charset" and value.lower() not in ("utf-8", "utf8"):
            raise _refuse("Content-Type", "media.charset", "Only the UTF-8 charset is accepted.", 415)
        if name == "fhirversion" and value != "4.0":
            raise _refuse("Content-Type", "media.fhir-version", "Only FHIR version 4.0 is accepted.", 415)
        if name not in ("charset", "fhirversion"):
            raise _refuse(
                "Content-Type", "media.param", "The Content-Type has a parameter not accepted.", 415
            )


def response_format(accept: str | None, format_param: str | None, *, allow_xml: bool = True) -> str:
    """The response media type: ``_format`` wins over ``Accept``; JSON by default; else 406."""
    offered = [FHIR_JSON, JSON] + ([FHIR_XML] if allow_xml else [])
    if format_param is not None:
        chosen = _FORMAT_ALIASES.get(format_param.strip().lower())
        if chosen is None or chosen not in offered:
            raise _refuse("_format", "media.not-acceptable", "The _format asked for is not available.", 406)
        return chosen
    if accept is None or not accept.strip():
        return FHIR_JSON
    ranked = _accept_ranges(accept)
    best = max(offered, key=lambda media: (_quality(ranked, media), -offered.index(media)))
    if _quality(ranked, best) <= 0:
        raise _refuse("Accept", "media.not-acceptable", "None of the Accept media types is available.", 406)
    return best


def _accept_ranges(accept: str) -> list[tuple[MediaType, float]]:
    ranges: list[tuple[MediaType, float]] = []
    for item in accept.split(","):
        if not item.strip(" \t"):
            continue
        media = parse_media_type(item, "Accept")
        ranges.append((media, _q(media.param("q"))))
    return ranges


def _q(raw: str | None) -> float:
    if raw is None:
        return _ANY_Q
    if not re.fullmatch(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?", raw):
        raise _refuse("Accept", "media.malformed", "The Accept header has a malformed quality value.", 400)
    return float(raw)


def _quality(ranges: list[tuple[MediaType, float]], offered: str) -> float:
    """RFC 9110: the most specific matching range decides."""
    kind = offered.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for media, q in ranges:
        specificity = {offered: 2, f"{kind}/*": 1, "*/*": 0}.get(media.essence, -1)
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def _refuse(where: str, rule: str, message: str, status: int) -> InputRefused:
    code = "not-supported" if status in (406, 415) else "invalid"
    return InputRefused([Issue(where, rule, message, status, code)])
