from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from phigate.settings.contracts import ContractsSettings
from phigate.shaping.contracts import Contract, compile_contracts
from phigate.shaping.pseudonyms import PseudonymKeys


def build_contract(terms: dict[str, Any], client: str = "c1") -> Contract:
    book = compile_contracts(ContractsSettings.model_validate({"clients": {client: terms}}))
    found = book.for_client(client, "v1")
    assert found is not None
    return found


@pytest.fixture
def make_contract() -> Callable[..., Contract]:
    return build_contract


@pytest.fixture
def keys() -> PseudonymKeys:
    return PseudonymKeys.from_root(bytes(range(32)))
