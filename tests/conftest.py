"""Suite-wide fixtures: the official FHIR examples, cached."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.fhir_examples import iter_examples


@pytest.fixture(scope="session")
def fhir_examples() -> list[tuple[str, dict[str, Any]]]:
    return list(iter_examples())
