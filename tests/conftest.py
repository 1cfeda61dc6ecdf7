"""Suite-wide fixtures: the official FHIR examples (cached), a fresh store on each backend."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.fhir_examples import iter_examples
from fixtures.postgres import throwaway_database
from fixtures.redis_server import RedisServer


@pytest.fixture(scope="session")
def fhir_examples() -> list[tuple[str, dict[str, Any]]]:
    return list(iter_examples())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty store for each backend: a SQLite file, and a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'phigate.db'}"
        return
    async with throwaway_database() as url:
        yield url


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    """A test-owned redis-server on a free port, killed afterwards."""
    server = RedisServer()
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
