"""``traffic:`` in phigate.yaml: rates, bursts and networks are checked, and every problem names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from phigate.cli.main import app
from phigate.errors import ConfigError
from phigate.settings import parse_settings

BASE: dict[str, object] = {
    "environment": "dev",
    "listeners": {"public": {"port": 8443, "plain_http": True}, "admin": {"port": 9443, "plain_http": True}},
    "upstreams": {"ehr": {"targets": [{"url": "https://ehr.example/fhir"}]}},
    "routes": [{"base": "/fhir", "upstream": "ehr"}],
    "master_key": {"env": "PHIGATE_MASTER_KEY"},
}


def problems(traffic: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings({**BASE, "traffic": traffic})
    return info.value.problems


def test_the_seed_configuration_a_user_writes_is_accepted() -> None:
    settings = parse_settings({**BASE, "traffic": {"clients": {"acme-lab": {
        "rate_limit": "1000 requests/minute",
        "allow_ips": ["203.0.113.10", "198.51.100.0/24", "2001:db8::/32"],
    }}, "global": {"rate_limit": "5000/second", "burst": 100}}})  # fmt: skip
    acme = settings.traffic.clients["acme-lab"]
    assert acme.rate_limit is not None and (acme.rate_limit.count, acme.rate_limit.period) == (1000, 60.0)
    assert settings.traffic.global_ is not None and settings.traffic.global_.burst == 100


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        ({"clients": {"acme-lab": {"rate_limit": "1000/minit"}}},
         "traffic.clients.acme-lab.rate_limit: '1000/minit' is not a rate"),
        ({"clients": {"acme-lab": {"allow_ips": ["10.0.0.0/33"]}}},
         "traffic.clients.acme-lab.allow_ips: '10.0.0.0/33' is not an IP address or CIDR network"),
        ({"vendors": {"acme": {"allow_ips": ["10.0.0.1/8"]}}},
         "traffic.vendors.acme.allow_ips: '10.0.0.1/8'"),
        ({"deny_ips": ["not-an-ip"]}, "traffic.deny_ips: 'not-an-ip' is not an IP address"),
        ({"global": {"rate_limit": "0 requests/second"}}, "traffic.global.rate_limit: '0 requests/second'"),
        ({"per_ip": {"rate_limit": 100}}, "traffic.per_ip.rate_limit: '100' is not a rate"),
        ({"per_ip": {"rate_limit": "10/second", "burst": 0}}, "traffic.per_ip.burst: "),
        ({"interactions": {"serach": {"rate_limit": "1/second"}}}, "traffic.interactions: 'serach' is not"),
        ({"costs": {"search": 0}}, "traffic.costs.search: "),
        ({"on_store_failure": "maybe"}, "traffic.on_store_failure: "),
        ({"clients": {"acme-lab": {"rate_limt": "1/second"}}},
         "traffic.clients.acme-lab.rate_limt: unknown key"),
    ],
)  # fmt: skip
def test_a_malformed_value_is_an_error_naming_its_key(traffic: dict[str, object], expected: str) -> None:
    found = problems(traffic)
    assert any(p.startswith(expected) for p in found), found


def test_config_check_reports_the_key_path(tmp_path: Path) -> None:
    raw = {
        **BASE,
        "traffic": {"clients": {"acme-lab": {"rate_limit": "1000/minit", "allow_ips": ["10.0.0.0/33"]}}},
    }
    path = tmp_path / "phigate.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["config", "check", str(path)], env={"PHIGATE_MASTER_KEY": "k" * 44})
    assert result.exit_code == 1
    assert "traffic.clients.acme-lab.rate_limit: '1000/minit' is not a rate" in result.output
    assert "traffic.clients.acme-lab.allow_ips: '10.0.0.0/33'" in result.output
