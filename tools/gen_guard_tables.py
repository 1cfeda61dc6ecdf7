"""Generate phigate's FHIR R4 tables for the guard from the official R4 definitions.

Reads the StructureDefinition and SearchParameter resources of the cached npm package
``hl7.fhir.r4.examples@4.0.1`` (see ``tests/fixtures/fhir_examples.py``) and writes:

- ``src/phigate/guard/r4_structure.json``: every resource and complex type as
  ``{element: [min, many, [type, ...]]}`` (backbone elements as types named by their
  path), and each primitive type's regex;
- ``src/phigate/guard/r4_search_params.json``: each resource type's search parameters
  with its FHIR type and, for references, its target types (every R4 definition
  lists all nine prefixes for date, number and quantity, so prefixes follow the type).

Run once after a FHIR version change: ``.venv/bin/python tools/gen_guard_tables.py``.
The gateway reads only the generated files, never the package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.fhir_examples import iter_examples  # noqa: E402

OUT = ROOT / "src" / "phigate" / "guard"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"


def type_code(entry: dict[str, Any]) -> str:
    code: str = entry["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in entry.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return str(ext["valueUrl"])
        return "string"
    return code


def structure(definitions: list[dict[str, Any]]) -> dict[str, Any]:
    types: dict[str, dict[str, list[Any]]] = {}
    primitives: dict[str, str | None] = {}
    for sd in definitions:
        name = sd["type"] if sd["kind"] != "logical" else None
        if name is None or sd.get("derivation") == "constraint":
            continue
        if sd["kind"] == "primitive-type":
            primitives[name] = primitive_regex(sd)
            continue
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if "." not in path:
                types.setdefault(path, {})
                continue
            parent, _, field = path.rpartition(".")
            types.setdefault(parent, {})[field] = element_entry(element, path)
    return {"fhirVersion": "4.0.1", "primitives": primitives, "types": types}


def element_entry(element: dict[str, Any], path: str) -> list[Any]:
    many = 1 if element["max"] != "1" and element["max"] != "0" else 0
    if element["max"] == "0":
        many = -1  # prohibited
    if "contentReference" in element:
        codes = [element["contentReference"].lstrip("#")]
    else:
        codes = [type_code(t) for t in element.get("type", [])]
        codes = [path if c in ("Element", "BackboneElement") else c for c in codes]
    return [element.get("min", 0), many, sorted(set(codes), key=codes.index)]


def primitive_regex(sd: dict[str, Any]) -> str | None:
    for element in sd["snapshot"]["element"]:
        if element["path"].endswith(".value"):
            for t in element.get("type", []):
                for ext in t.get("extension", []):
                    if ext["url"] == REGEX_EXT:
                        return str(ext["valueString"])
    return None


def search_params(definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """``{type: {code: fhirType | [fhirType, [target, ...]]}}``; ``Resource`` holds the common ones."""
    table: dict[str, dict[str, Any]] = {}
    for sp in definitions:
        entry: Any = [sp["type"], sorted(sp["target"])] if sp.get("target") else sp["type"]
        for base in sp.get("base", []):
            key = "Resource" if base == "DomainResource" else base
            table.setdefault(key, {})[sp["code"]] = entry
    return {"fhirVersion": "4.0.1", "params": {k: table[k] for k in sorted(table)}}


def main() -> None:
    structures: list[dict[str, Any]] = []
    parameters: list[dict[str, Any]] = []
    for _, resource in iter_examples():
        kind = resource["resourceType"]
        url = resource.get("url", "")
        if kind == "StructureDefinition" and url.startswith("http://hl7.org/fhir/StructureDefinition/"):
            structures.append(resource)
        elif kind == "SearchParameter" and url.startswith("http://hl7.org/fhir/SearchParameter/"):
            parameters.append(resource)
    parameters.sort(key=lambda sp: sp["url"])
    tables = structure(sorted(structures, key=lambda sd: sd["url"]))
    write(OUT / "r4_structure.json", tables)
    write(OUT / "r4_search_params.json", search_params(parameters))


def write(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
