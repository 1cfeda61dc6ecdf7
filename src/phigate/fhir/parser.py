"""Map an HTTP method, a path below the FHIR base and a query to a :class:`FhirRequest`.

Routes (FHIR R4 RESTful API; ``HEAD`` is read as ``GET``)::

    ""  /                         GET search (system)          POST batch/transaction
    /metadata                     GET capabilities
    /_history                     GET history (system)
    /_search                      POST search (system)
    /$op                          GET|POST operation (system)
    /Type                         GET search   POST create   PUT|PATCH|DELETE conditional (needs criteria)
    /Type/_search                 POST search
    /Type/_history                GET history (type)
    /Type/$op                     GET|POST operation (type)
    /Type/id                      GET read   PUT update   PATCH patch   DELETE delete
    /Type/id/_history             GET history (instance)
    /Type/id/$op                  GET|POST operation (instance)
    /Type/id/Other  /Type/id/*    GET compartment search
    /Type/id/Other/_search        POST compartment search
    /Type/id/_history/vid         GET vread

``path`` should be the raw (still percent-encoded) path, so that an encoded
slash is seen and refused rather than taken for a separator. Each segment is
decoded once; a decoded ``/``, ``\\``, control character, ``.`` or ``..`` is refused.

A malformed path raises ``RequestError`` (400); an unknown resource type or route
``NotFound`` (404); a method the route does not take ``MethodNotAllowed`` (405).
Messages never repeat the input, except a resource type name that is well formed.
"""

from __future__ import annotations

import re

from phigate.errors import MethodNotAllowed, NotFound, RequestError
from phigate.fhir.query import parse_query
from phigate.fhir.request import Compartment, FhirRequest, Interaction, Level, is_valid_id
from phigate.fhir.resources import COMPARTMENT_TYPES, PATIENT_COMPARTMENT, RESOURCE_TYPES
from phigate.fhir.search import SearchQuery
from phigate.fhir.urlencoding import DecodeError, percent_decode

MAX_PATH_CHARS = 2048
MAX_SEGMENTS = 4
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
TYPE_RE = re.compile(r"[A-Z][A-Za-z]{1,63}")
OPERATION_RE = re.compile(r"\$[A-Za-z][A-Za-z0-9\-]{0,63}")
_READ_METHODS = frozenset({"GET", "HEAD"})
_OPERATION_METHODS = frozenset({"GET", "HEAD", "POST"})

# (resource_type, id) that a request addresses.
_Target = tuple[str | None, str | None]


def parse_request(method: str, path: str, query: str, body_is_form: bool = False) -> FhirRequest:
    """Parse one request; ``query`` is the URL query, or the form body of a POST ``_search``."""
    segments = _segments(path)
    search = parse_query(query, form=body_is_form)
    if method not in METHODS:
        raise MethodNotAllowed()
    if not segments:
        return _system(method, search)
    if len(segments) == 1 and not segments[0][:1].isupper():
        return _system_keyword(method, segments[0], search)
    return _typed(method, segments, search)


def _segments(path: str) -> list[str]:
    if len(path) > MAX_PATH_CHARS:
        raise RequestError("The request path is too long.")
    trimmed = path.removeprefix("/").removesuffix("/")
    if not trimmed:
        return []
    raw = trimmed.split("/")
    if len(raw) > MAX_SEGMENTS:
        raise RequestError("The request path has too many segments.")
    return [_decode_segment(segment) for segment in raw]


def _decode_segment(segment: str) -> str:
    if not segment:
        raise RequestError("The request path has an empty segment.")
    try:
        decoded = percent_decode(segment)
    except DecodeError:
        raise RequestError("The request path is not validly encoded.") from None
    if "/" in decoded or "\\" in decoded:
        raise RequestError("The request path has an encoded slash.")
    if decoded in (".", ".."):
        raise RequestError("The request path has a dot segment.")
    return decoded


def _request(
    method: str,
    interaction: Interaction,
    level: Level,
    search: SearchQuery,
    target: _Target = (None, None),
    *,
    version_id: str | None = None,
    compartment: Compartment | None = None,
    operation: str | None = None,
    conditional: bool = False,
) -> FhirRequest:
    resource_type, resource_id = target
    return FhirRequest(
        interaction, method, level, resource_type, resource_id, version_id, compartment, operation,
        conditional, search.params, search.includes, search.revincludes,
    )  # fmt: skip


def _system(method: str, search: SearchQuery) -> FhirRequest:
    if method in _READ_METHODS:
        return _request(method, Interaction.SEARCH, Level.SYSTEM, search)
    if method == "POST":
        return _request(method, Interaction.BATCH, Level.SYSTEM, search)
    raise MethodNotAllowed()


def _system_keyword(method: str, keyword: str, search: SearchQuery) -> FhirRequest:
    if keyword.startswith("$"):
        return _operation(method, keyword, Level.SYSTEM, search)
    routes = {
        "metadata": (_READ_METHODS, Interaction.CAPABILITIES),
        "_history": (_READ_METHODS, Interaction.HISTORY),
        "_search": (frozenset({"POST"}), Interaction.SEARCH),
    }
    if keyword not in routes:
        raise NotFound()
    methods, interaction = routes[keyword]
    if method not in methods:
        raise MethodNotAllowed()
    return _request(method, interaction, Level.SYSTEM, search)


def _operation(
    method: str, segment: str, level: Level, search: SearchQuery, target: _Target = (None, None)
) -> FhirRequest:
    if not OPERATION_RE.fullmatch(segment):
        raise RequestError("The operation name is not valid.")
    if method not in _OPERATION_METHODS:
        raise MethodNotAllowed()
    return _request(method, Interaction.OPERATION, level, search, target, operation=segment[1:])


def _typed(method: str, segments: list[str], search: SearchQuery) -> FhirRequest:
    resource_type = _resource_type(segments[0])
    if len(segments) == 1:
        return _type_level(method, resource_type, search)
    second = segments[1]
    if second.startswith(("$", "_")):
        if len(segments) > 2:
            raise RequestError("The request path has too many segments.")
        return _type_keyword(method, resource_type, second, search)
    resource_id = _id(second)
    if len(segments) == 2:
        return _instance(method, resource_type, resource_id, search)
    return _below_instance(method, resource_type, resource_id, segments[2:], search)


def _resource_type(segment: str) -> str:
    if segment in RESOURCE_TYPES:
        return segment
    if TYPE_RE.fullmatch(segment):
        raise NotFound(f"Unknown resource type '{segment}'.")
    raise NotFound("Unknown resource type.")


def _id(segment: str, what: str = "resource id") -> str:
    if not is_valid_id(segment):
        raise RequestError(f"The {what} in the path is not valid.")
    return segment


def _type_level(method: str, resource_type: str, search: SearchQuery) -> FhirRequest:
    if method in _READ_METHODS:
        return _request(method, Interaction.SEARCH, Level.TYPE, search, (resource_type, None))
    if method == "POST":
        return _request(method, Interaction.CREATE, Level.TYPE, search, (resource_type, None))
    interaction = {"PUT": Interaction.UPDATE, "PATCH": Interaction.PATCH, "DELETE": Interaction.DELETE}
    if not search.params and not search.includes and not search.revincludes:
        raise MethodNotAllowed()
    if not search.criteria:
        # Without criteria a conditional write would select every resource of the type.
        raise RequestError("A conditional update, patch or delete needs search criteria.")
    return _request(method, interaction[method], Level.TYPE, search, (resource_type, None), conditional=True)


def _type_keyword(method: str, resource_type: str, keyword: str, search: SearchQuery) -> FhirRequest:
    if keyword.startswith("$"):
        return _operation(method, keyword, Level.TYPE, search, (resource_type, None))
    if keyword == "_search" and method == "POST":
        return _request(method, Interaction.SEARCH, Level.TYPE, search, (resource_type, None))
    if keyword == "_history" and method in _READ_METHODS:
        return _request(method, Interaction.HISTORY, Level.TYPE, search, (resource_type, None))
    if keyword in ("_search", "_history"):
        raise MethodNotAllowed()
    raise NotFound()


def _instance(method: str, resource_type: str, resource_id: str, search: SearchQuery) -> FhirRequest:
    interactions = {"GET": Interaction.READ, "HEAD": Interaction.READ, "PUT": Interaction.UPDATE,
                    "PATCH": Interaction.PATCH, "DELETE": Interaction.DELETE}  # fmt: skip
    if method not in interactions:
        raise MethodNotAllowed()
    return _request(method, interactions[method], Level.INSTANCE, search, (resource_type, resource_id))


def _below_instance(
    method: str, resource_type: str, resource_id: str, rest: list[str], search: SearchQuery
) -> FhirRequest:
    third = rest[0]
    target: _Target = (resource_type, resource_id)
    if third.startswith("$") and len(rest) == 1:
        return _operation(method, third, Level.INSTANCE, search, target)
    if third == "_history":
        return _history(method, target, rest[1:], search)
    if third.startswith(("$", "_")):
        raise NotFound()
    return _compartment_search(method, Compartment(resource_type, resource_id), rest, search)


def _history(method: str, target: _Target, rest: list[str], search: SearchQuery) -> FhirRequest:
    if method not in _READ_METHODS:
        raise MethodNotAllowed()
    if not rest:
        return _request(method, Interaction.HISTORY, Level.INSTANCE, search, target)
    version_id = _id(rest[0], "version id")
    return _request(method, Interaction.VREAD, Level.INSTANCE, search, target, version_id=version_id)


def _compartment_search(
    method: str, compartment: Compartment, rest: list[str], search: SearchQuery
) -> FhirRequest:
    if compartment.type not in COMPARTMENT_TYPES:
        raise NotFound(f"The resource type '{compartment.type}' does not define a compartment.")
    resource_type = None if rest[0] == "*" else _resource_type(rest[0])
    outside = resource_type is not None and resource_type not in PATIENT_COMPARTMENT
    if compartment.type == "Patient" and outside:
        raise NotFound(f"The resource type '{resource_type}' is not in the Patient compartment.")
    expected = "POST" if rest[1:] == ["_search"] else None
    if len(rest) > 1 and expected is None:
        raise NotFound()
    if (expected is None and method not in _READ_METHODS) or (expected and method != expected):
        raise MethodNotAllowed()
    return _request(method, Interaction.SEARCH, Level.COMPARTMENT, search, (resource_type, None),
                    compartment=compartment)  # fmt: skip
