"""The shipped R4 tables are exactly what tools/gen_guard_tables.py makes from the official definitions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_guard_tables", ROOT / "tools" / "gen_guard_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tables_are_up_to_date(fhir_examples: list[tuple[str, dict[str, Any]]]) -> None:
    gen = _generator()
    definitions = [r for _, r in fhir_examples if r.get("url", "").startswith("http://hl7.org/fhir/")]
    structures = sorted(
        (r for r in definitions if r["resourceType"] == "StructureDefinition"), key=lambda r: r["url"]
    )
    params = sorted(
        (r for r in definitions if r["resourceType"] == "SearchParameter"), key=lambda r: r["url"]
    )
    shipped = ROOT / "src" / "phigate" / "guard"
    structure = json.loads((shipped / "r4_structure.json").read_text())
    assert gen.structure(structures) == structure
    assert gen.search_params(params) == json.loads((shipped / "r4_search_params.json").read_text())
    assert len(structure["types"]) > 600 and "Observation.component" in structure["types"]
