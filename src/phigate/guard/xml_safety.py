"""Hardened parsing of a FHIR XML body: no DTD, no entity, nothing fetched.

``defusedxml`` refuses a DOCTYPE (so internal and external DTDs, parameter
entities and entity expansion such as "billion laughs" never start), any entity
declaration and any external reference; on top, XInclude elements are refused
outright (nothing here would process them, but an upstream might), the encoding
must be UTF-8, nesting is bounded, and the root must be a FHIR R4 resource in the
``http://hl7.org/fhir`` namespace. The body is not converted to FHIR JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from phigate.fhir.resources import RESOURCE_TYPES
from phigate.guard.issues import InputRefused, Issue

FHIR_NS = "http://hl7.org/fhir"
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


@dataclass(frozen=True, slots=True)
class XmlResource:
    """A safely parsed FHIR XML resource: its type (root element name) and its tree."""

    resource_type: str
    root: Element


def parse_fhir_xml(
    body: bytes, max_bytes: int, max_depth: int, expected_type: str | None = None
) -> XmlResource:
    """Parse ``body``; raise :class:`InputRefused` (413 for size, 400 otherwise) on any rule broken."""
    if len(body) > max_bytes:
        raise _refuse("xml.too-large", f"The body is larger than {max_bytes} bytes.", 413)
    _check_encoding(body)
    root = _parse(body)
    _check_tree(root, max_depth)
    return XmlResource(_resource_type(root, expected_type), root)


def _check_encoding(body: bytes) -> None:
    declared = _DECLARED_ENCODING.match(body)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise _refuse("xml.encoding", "The XML body must be encoded in UTF-8.")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("xml.encoding", "The XML body is not valid UTF-8.") from None


def _parse(body: bytes) -> Element:
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _refuse(
            "xml.dtd", "DOCTYPE, entity declarations and external references are not allowed."
        ) from None
    except ParseError as exc:
        line, column = exc.position
        raise _refuse(
            "xml.syntax", f"The body is not well-formed XML (line {line}, column {column})."
        ) from None


def _check_tree(root: Element, max_depth: int) -> None:
    # Iterative walk: expat builds the tree without recursion, and neither do we.
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise _refuse("xml.too-deep", f"The body is nested deeper than {max_depth} levels.")
        if isinstance(element.tag, str) and element.tag.startswith("{" + XINCLUDE_NS + "}"):
            raise _refuse("xml.xinclude", "XInclude is not allowed.")
        if any(name.startswith("{" + XINCLUDE_NS + "}") for name in element.attrib):
            raise _refuse("xml.xinclude", "XInclude is not allowed.")
        stack.extend((child, depth + 1) for child in element)


def _resource_type(root: Element, expected_type: str | None) -> str:
    namespace, _, name = root.tag.rpartition("}")
    if namespace != "{" + FHIR_NS:
        raise _refuse("xml.namespace", "The root element must be in the FHIR namespace http://hl7.org/fhir.")
    if name not in RESOURCE_TYPES:
        raise _refuse("xml.unknown-type", "The root element is not an R4 resource type.", 422)
    if expected_type is not None and name != expected_type:
        raise _refuse("xml.type-mismatch", "The resource type does not match the URL.")
    return name


def _refuse(rule: str, message: str, status: int = 400) -> InputRefused:
    return InputRefused([Issue("/", rule, message, status)])
