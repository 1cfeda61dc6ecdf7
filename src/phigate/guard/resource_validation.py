"""FHIR R4 structural validation of a resource sent for create, update, patch or transaction.

Checks, against the R4 structure (:mod:`phigate.guard.structure`): no unknown
element, cardinality (a list exactly where the element repeats, required elements
present, at most one type of a choice), primitive values of the right JSON type
and lexical form, no empty object, list or string (FHIR ``ele-1``). On top:
``resourceType`` is a known type and matches the URL, ids match
``[A-Za-z0-9\\-.]{1,64}`` (and on update equal the URL id), references are
well-formed, and each entry of a batch or transaction Bundle is checked in turn so
the failing entry is named (``Bundle.entry[3].resource.subject``).

It does not evaluate FHIRPath invariants, bindings or profiles: that is the
upstream server's business; this is the gate that keeps malformed input out.
Every finding is an :class:`~phigate.guard.issues.Issue` (status 422, or 400 for a
resource that does not fit the URL) whose message never repeats a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from phigate.fhir.request import is_valid_id
from phigate.fhir.resources import RESOURCE_TYPES
from phigate.guard.issues import MAX_ISSUES, Issue
from phigate.guard.structure import (
    INT_RANGES,
    JSON_NUMBERS,
    PRIMITIVE_PATTERNS,
    ElementSpec,
    elements,
    is_primitive,
    required,
)

MAX_NESTING = 64  # resource nesting (contained, Bundle entries) and element depth together
MAX_STRING_CHARS = 1024 * 1024  # FHIR's own limit on a string
# Narrative and attachments are bounded by the body size limit instead.
_UNCAPPED = frozenset({"xhtml", "base64Binary"})
_UUID_URN = re.compile(
    r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_OID_URN = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?")
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?\S+")
_BUNDLE_WRITES = frozenset({"batch", "transaction"})


@dataclass(slots=True)
class _Context:
    issues: list[Issue] = field(default_factory=list)
    bundle: str | None = None  # the type of the innermost enclosing Bundle

    def add(self, path: str, rule: str, message: str, status: int = 422) -> None:
        if len(self.issues) < MAX_ISSUES + 1:
            self.issues.append(
                Issue(path, rule, message, status, "structure" if status == 422 else "invalid")
            )


def validate_resource(
    resource: Any, *, expected_type: str | None = None, expected_id: str | None = None
) -> list[Issue]:
    """Check one resource; ``expected_type``/``expected_id`` come from the URL (create, update)."""
    ctx = _Context()
    if not isinstance(resource, dict):
        ctx.add("", "fhir.not-a-resource", "The body must be a FHIR resource (a JSON object).")
        return ctx.issues
    kind = resource.get("resourceType")
    if expected_type is not None and isinstance(kind, str) and kind != expected_type:
        ctx.add("resourceType", "fhir.type-mismatch", "resourceType does not match the URL.", 400)
        return ctx.issues
    if expected_id is not None and resource.get("id") != expected_id:
        ctx.add(
            f"{kind}.id" if isinstance(kind, str) else "id",
            "fhir.id-mismatch",
            "The resource id must be present and equal the id in the URL.",
            400,
        )
    _resource(resource, None, ctx, 0)
    return ctx.issues


def validate_bundle(bundle: Any) -> list[Issue]:
    """Check a Bundle posted to the base: it must be a batch or transaction; entries one by one."""
    issues = validate_resource(bundle, expected_type="Bundle")
    if isinstance(bundle, dict) and bundle.get("type") not in _BUNDLE_WRITES:
        issues.append(
            Issue(
                "Bundle.type",
                "fhir.bundle-type",
                "A Bundle posted to the base must be a batch or a transaction.",
                400,
            )
        )
    return issues


def _resource(resource: dict[str, Any], path: str | None, ctx: _Context, depth: int) -> None:
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or kind not in RESOURCE_TYPES:
        ctx.add(path or "resourceType", "fhir.unknown-type", "resourceType is missing or not an R4 type.")
        return
    here = path or kind
    if "id" in resource and not (isinstance(resource["id"], str) and is_valid_id(resource["id"])):
        ctx.add(f"{here}.id", "fhir.id-format", "The id must match [A-Za-z0-9-.]{1,64}.")
    outer = ctx.bundle
    if kind == "Bundle":
        ctx.bundle = resource.get("type") if isinstance(resource.get("type"), str) else "unknown"
        _bundle_rules(resource, here, ctx)
    _object(resource, kind, here, ctx, depth, is_resource=True)
    ctx.bundle = outer


def _bundle_rules(bundle: dict[str, Any], path: str, ctx: _Context) -> None:
    if bundle.get("type") not in _BUNDLE_WRITES or not isinstance(bundle.get("entry"), list):
        return
    for index, entry in enumerate(bundle["entry"]):
        if isinstance(entry, dict) and not isinstance(entry.get("request"), dict):
            ctx.add(
                f"{path}.entry[{index}]",
                "fhir.bundle-request",
                "Each entry of a batch or transaction needs a request.",
            )


def _object(
    value: dict[str, Any], type_name: str, path: str, ctx: _Context, depth: int, *, is_resource: bool = False
) -> None:
    if depth > MAX_NESTING:
        ctx.add(path, "fhir.too-deep", "The resource is nested too deeply.")
        return
    if not value:
        ctx.add(path, "fhir.empty", "An element must have a value or children.")
        return
    specs = elements(type_name)
    choices: dict[str, str] = {}
    for key, item in value.items():
        if is_resource and key == "resourceType":
            continue
        if key.startswith("_") and len(key) > 1:
            _primitive_extension(value, key, specs, path, ctx, depth)
            continue
        spec = specs.get(key)
        if spec is None or spec.prohibited:
            ctx.add(
                f"{path}.{key}" if _safe_name(key) else path,
                "fhir.unknown-element",
                "This element is not defined for the type."
                if _safe_name(key)
                else "An element name is not valid.",
            )
            continue
        if spec.is_choice and choices.setdefault(spec.name, key) != key:
            ctx.add(f"{path}.{key}", "fhir.choice", "Only one type of a choice element may be given.")
        _property(value, key, item, spec, f"{path}.{key}", ctx, depth)
    _required(value, type_name, path, ctx)
    if type_name == "Reference":
        _reference(value, path, ctx)


def _safe_name(key: str) -> bool:
    return len(key) <= 64 and key.isascii() and key.replace("_", "").isalnum()


def _required(value: dict[str, Any], type_name: str, path: str, ctx: _Context) -> None:
    for name, keys in required(type_name):
        if not any(key in value or f"_{key}" in value for key in keys):
            ctx.add(f"{path}.{name.removesuffix('[x]')}", "fhir.required", "A required element is missing.")


def _property(
    parent: dict[str, Any], key: str, item: Any, spec: ElementSpec, path: str, ctx: _Context, depth: int
) -> None:
    if not spec.many:
        if isinstance(item, list):
            ctx.add(path, "fhir.cardinality", "This element does not repeat: it must not be a list.")
        else:
            _value(item, spec.type, path, ctx, depth)
        return
    if not isinstance(item, list):
        ctx.add(path, "fhir.cardinality", "This element repeats: it must be a list.")
        return
    if not item:
        ctx.add(path, "fhir.empty", "A list must not be empty.")
        return
    extensions = parent.get(f"_{key}")
    for index, entry in enumerate(item):
        if entry is None and _has_extension_at(extensions, index) and is_primitive(spec.type):
            continue
        _value(entry, spec.type, f"{path}[{index}]", ctx, depth)


def _has_extension_at(extensions: Any, index: int) -> bool:
    return isinstance(extensions, list) and index < len(extensions) and isinstance(extensions[index], dict)


def _primitive_extension(
    value: dict[str, Any], key: str, specs: Any, path: str, ctx: _Context, depth: int
) -> None:
    spec = specs.get(key[1:])
    where = f"{path}.{key}" if _safe_name(key[1:]) else path
    if spec is None or not is_primitive(spec.type):
        ctx.add(where, "fhir.unknown-element", "This element is not defined for the type.")
        return
    item = value[key]
    if not spec.many:
        if not isinstance(item, dict):
            ctx.add(where, "fhir.primitive-element", "A primitive's extension part must be an object.")
        else:
            _object(item, "Element", where, ctx, depth + 1)
        return
    values = value.get(key[1:])
    if not isinstance(item, list) or (isinstance(values, list) and len(values) != len(item)):
        ctx.add(where, "fhir.primitive-element", "A repeating primitive's extension list must align.")
        return
    for index, entry in enumerate(item):
        if entry is not None:
            _value(entry, "Element", f"{where}[{index}]", ctx, depth)


def _value(item: Any, type_name: str, path: str, ctx: _Context, depth: int) -> None:
    if type_name in PRIMITIVE_PATTERNS:
        _primitive(item, type_name, path, ctx)
    elif not isinstance(item, dict):
        ctx.add(path, "fhir.type", "This element must be an object.")
    elif type_name == "Resource":
        _resource(item, path, ctx, depth + 1)
    else:
        _object(item, type_name, path, ctx, depth + 1)


def _primitive(item: Any, type_name: str, path: str, ctx: _Context) -> None:
    if type_name == "boolean":
        ok = isinstance(item, bool)
    elif type_name in JSON_NUMBERS:
        ok = _number_ok(item, type_name)
    elif not isinstance(item, str):
        ok = False
    else:
        pattern = PRIMITIVE_PATTERNS[type_name]
        size_ok = len(item) <= MAX_STRING_CHARS or type_name in _UNCAPPED
        ok = bool(item) and size_ok and (pattern is None or pattern.fullmatch(item) is not None)
        if ok and type_name == "base64Binary":
            ok = len("".join(item.split())) % 4 == 0
    if not ok:
        ctx.add(path, "fhir.primitive", f"The value is not a valid FHIR {type_name}.")


def _number_ok(item: Any, type_name: str) -> bool:
    if isinstance(item, bool) or not isinstance(item, int | float):
        return False
    if type_name == "decimal":
        return True
    low, high = INT_RANGES[type_name]
    return isinstance(item, int) and low <= item <= high


def _reference(value: dict[str, Any], path: str, ctx: _Context) -> None:
    ref = value.get("reference")
    if isinstance(ref, str) and not _reference_ok(ref, ctx.bundle):
        ctx.add(
            f"{path}.reference",
            "fhir.reference",
            "A reference must be Type/id, an absolute URL, #contained, or urn:uuid/urn:oid in a Bundle.",
        )


def _reference_ok(ref: str, bundle: str | None) -> bool:
    if ref.startswith("#"):
        return ref == "#" or is_valid_id(ref[1:])
    relative = _RELATIVE.fullmatch(ref)
    if relative is not None:
        return relative.group(1) in RESOURCE_TYPES
    if ref.startswith("urn:"):
        return bundle is not None and bool(_UUID_URN.fullmatch(ref) or _OID_URN.fullmatch(ref))
    conditional = _CONDITIONAL.fullmatch(ref)
    if conditional is not None:
        return bundle == "transaction" and conditional.group(1) in RESOURCE_TYPES
    return _absolute_ok(ref)


def _absolute_ok(ref: str) -> bool:
    if any(ch.isspace() or ord(ch) < 0x20 for ch in ref):
        return False
    try:
        parts = urlsplit(ref)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


_PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")
# A patch may not change what the resource is or its server-managed identity.
_PROTECTED = ("/resourceType", "/id", "/meta")


def validate_json_patch(patch: Any) -> list[Issue]:
    """Check a JSON Patch (RFC 6902) document; named by ``$[i].field``."""
    if not isinstance(patch, list) or not patch:
        return [Issue("$", "patch.shape", "A JSON Patch must be a non-empty list of operations.")]
    issues: list[Issue] = []
    for index, op in enumerate(patch[:MAX_ISSUES]):
        where = f"$[{index}]"
        if not isinstance(op, dict) or op.get("op") not in _PATCH_OPS:
            issues.append(Issue(where, "patch.op", "Each operation needs an op of RFC 6902."))
            continue
        needed = {"path"} | ({"value"} if op["op"] in ("add", "replace", "test") else set())
        needed |= {"from"} if op["op"] in ("move", "copy") else set()
        for key in sorted(needed):
            if key not in op:
                issues.append(
                    Issue(f"{where}.{key}", "patch.missing", "The operation lacks a required member.")
                )
        for key in ("path", "from"):
            pointer = op.get(key)
            if key in op and not (isinstance(pointer, str) and _POINTER.fullmatch(pointer)):
                issues.append(Issue(f"{where}.{key}", "patch.pointer", "Not a valid JSON Pointer."))
            elif isinstance(pointer, str) and op["op"] != "test" and _protected(pointer):
                issues.append(
                    Issue(
                        f"{where}.{key}",
                        "patch.protected",
                        "A patch may not change resourceType, id or meta.",
                    )
                )
    return issues


def _protected(pointer: str) -> bool:
    return pointer in _PROTECTED or pointer.startswith(tuple(p + "/" for p in _PROTECTED))
