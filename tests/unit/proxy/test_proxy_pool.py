from __future__ import annotations

import pytest

from phigate.proxy import HealthState, UpstreamPool, UpstreamRequest
from phigate.settings import UpstreamSettings

SETTINGS = UpstreamSettings.model_validate(
    {"targets": [{"url": "http://127.0.0.1:9/fhir"}, {"url": "http://127.0.0.1:10/fhir"}]}
)


async def test_send_before_start_is_a_programming_error() -> None:
    pool = UpstreamPool("ehr", SETTINGS, health_checks=False)
    with pytest.raises(RuntimeError):
        await pool.send(UpstreamRequest("GET", "/Patient/1"))


def test_a_fresh_pool_reports_every_target_unknown_and_ready() -> None:
    health = UpstreamPool("ehr", SETTINGS, clock=lambda: 0.0).health()
    assert health.upstream == "ehr"
    assert [t.url for t in health.targets] == ["http://127.0.0.1:9/fhir", "http://127.0.0.1:10/fhir"]
    assert all(t.health is HealthState.unknown and t.checked_at is None for t in health.targets)
    assert health.ready


async def test_close_without_start_and_twice_is_harmless() -> None:
    pool = UpstreamPool("ehr", SETTINGS, health_checks=False)
    await pool.close()
    await pool.start()
    await pool.close()
    await pool.close()


def test_the_json_view_hides_target_addresses_unless_asked() -> None:
    health = UpstreamPool("ehr", SETTINGS, clock=lambda: 0.0).health()
    view = health.as_dict()
    assert view["upstream"] == "ehr" and view["ready"] is True
    assert view["targets"][0] == {"health": "unknown", "circuit": "closed", "consecutive_failures": 0}
    assert "127.0.0.1" not in repr(view)
    assert health.as_dict(include_urls=True)["targets"][1]["url"] == "http://127.0.0.1:10/fhir"
