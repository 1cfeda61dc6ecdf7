"""The config schema: every problem is reported with its key path; secrets are never inline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from phigate.errors import ConfigError
from phigate.settings import load_settings, parse_settings

KEY = "x" * 44


def minimal(**overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "environment": "dev",
        "listeners": {
            "public": {"port": 8443, "plain_http": True},
            "admin": {"port": 9443, "plain_http": True},
        },
        "upstreams": {"ehr": {"targets": [{"url": "https://ehr.example/fhir"}]}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "master_key": {"env": "PHIGATE_MASTER_KEY"},
    }
    config.update(overrides)
    return config


def problems_of(raw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    return info.value.problems


def test_minimal_config_is_valid() -> None:
    settings = parse_settings(minimal())
    assert settings.upstreams["ehr"].targets[0].url == "https://ehr.example/fhir"
    assert settings.listeners.public.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"routes": [{"base": "/fhir", "upstream": "nope"}]},
            "routes.0.upstream: 'nope' is not one of upstreams",
        ),
        ({"routes": [{"base": "fhir/", "upstream": "ehr"}]}, "routes.0.base: "),
        (
            {"upstreams": {"ehr": {"targets": [{"url": "ftp://x"}]}}},
            "upstreams.ehr.targets.0.url: must be an absolute",
        ),
        (
            {"upstreams": {"ehr": {"targets": [{"url": "https://u:p@ehr.example"}]}}},
            "upstreams.ehr.targets.0.url: must not carry credentials",
        ),
        ({"upstreams": {"ehr": {"targets": []}}}, "upstreams.ehr.targets: "),
        (
            {"upstreams": {"ehr": {"targets": [{"url": "https://a"}], "timeouts": {"read": -1}}}},
            "upstreams.ehr.timeouts.read",
        ),
        (
            {"master_key": {"file": "a", "env": "B"}},
            "master_key: give exactly one of 'file', 'env' or 'plugin'",
        ),
        (
            {"storage": {"url": "postgresql+asyncpg://app:hunter2@db/phigate"}},
            "storage.url: holds a password inline",
        ),
        ({"storage": {"url": "mysql://db/x"}}, "storage.url: must start with"),
        ({"listeners": {"public": {"port": 70000, "plain_http": True}}}, "listeners.public.port"),
        ({"listeners": {"public": {"port": 8443}}}, "listeners.public: give 'tls'"),
        ({"listeners": {"pubic": {"port": 1}}}, "listeners.pubic: unknown key"),
        ({"environment": "staging"}, "environment: "),
    ],
)
def test_each_problem_names_its_key_path(override: dict[str, object], expected: str) -> None:
    problems = problems_of(minimal(**override))
    assert any(p.startswith(expected) or expected in p for p in problems), problems


def test_a_password_is_never_echoed_in_a_problem() -> None:
    problems = problems_of(minimal(storage={"url": "postgresql+asyncpg://app:hunter2@db/phigate"}))
    assert not any("hunter2" in p for p in problems)


def test_every_problem_is_reported_not_only_the_first() -> None:
    raw = minimal(routes=[{"base": "/fhir", "upstream": "nope"}], storage={"url": "mysql://x"})
    raw.pop("master_key")
    problems = problems_of(raw)
    assert any(p.startswith("master_key: is required") for p in problems)
    assert any(p.startswith("storage.url:") for p in problems)


def test_plain_http_is_refused_in_production() -> None:
    problems = problems_of(minimal(environment="production"))
    assert "listeners.public.plain_http: plain HTTP is refused outside environment: dev" in problems
    assert "listeners.admin.plain_http: plain HTTP is refused outside environment: dev" in problems


def test_load_resolves_secrets_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text(KEY + "\n")
    path = tmp_path / "phigate.yaml"
    path.write_text(
        yaml.safe_dump(
            minimal(master_key={"file": "master.key"}, storage={"url": "sqlite+aiosqlite:///gw.db"})
        )
    )
    resolved = load_settings(path)
    assert resolved.master_key is not None and resolved.master_key.get_secret_value() == KEY
    assert KEY not in repr(resolved)
    assert resolved.storage_url.get_secret_value() == f"sqlite+aiosqlite:///{tmp_path}/gw.db"


def test_storage_url_secret_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "phigate.yaml"
    path.write_text(
        yaml.safe_dump(
            minimal(storage={"url": None, "url_secret": {"env": "DB_URL"}}, master_key={"env": "MK"})
        )
    )
    url = "postgresql+asyncpg://app:hunter2@127.0.0.1/db"
    resolved = load_settings(path, environ={"DB_URL": url, "MK": KEY})
    assert resolved.storage_url.get_secret_value() == url
    assert "hunter2" not in repr(resolved)


def test_missing_secret_and_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "phigate.yaml"
    raw = minimal(
        master_key={"env": "MK"},
        listeners={
            "public": {"port": 8443, "tls": {"cert_file": "none.crt", "key_file": "none.key"}},
            "admin": {"port": 9443, "plain_http": True},
        },
    )
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    problems = info.value.problems
    assert "master_key: environment variable MK is not set" in problems
    assert f"listeners.public.tls.cert_file: file {tmp_path}/none.crt does not exist" in problems
    assert f"listeners.public.tls.key_file: file {tmp_path}/none.key does not exist" in problems


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "phigate.yaml"
    path.write_text("listeners:\n  public: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "not valid YAML at line" in info.value.problems[0]


def test_the_shipped_example_config_is_valid_apart_from_its_files() -> None:
    example = Path(__file__).parents[2] / "phigate.example.yaml"
    settings = parse_settings(yaml.safe_load(example.read_text()))
    assert settings.routes[0].base == "/fhir"
    assert len(settings.upstreams["ehr"].targets) == 2
