"""Where the master key comes from: the local key text or a named KMS plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from phigate.adapters.kms import (
    KMS_PLUGINS,
    LocalMasterKey,
    file_keyring,
    generate_master_key,
    master_key_from_settings,
)
from phigate.errors import ConfigError
from phigate.settings import ResolvedSettings, parse_settings, resolve


def _resolved(master_key: dict[str, object], environ: dict[str, str] | None = None) -> ResolvedSettings:
    raw = {
        "environment": "dev",
        "upstreams": {"ehr": {"targets": [{"url": "http://127.0.0.1:8080/fhir"}]}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "master_key": master_key,
    }
    return resolve(parse_settings(raw), environ=environ or {})


def _key_file(directory: Path, version: int, text: str, mode: int = 0o600) -> None:
    path = directory / f"v{version}.key"
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(mode)


def test_the_local_master_key_comes_from_the_resolved_text() -> None:
    text = generate_master_key()
    kek = master_key_from_settings(_resolved({"env": "PHIGATE_MASTER_KEY"}, {"PHIGATE_MASTER_KEY": text}))
    assert kek.key_id == LocalMasterKey.from_text(text).key_id


def test_a_malformed_local_master_key_names_master_key() -> None:
    with pytest.raises(ConfigError, match=r"^master_key: the master key is 5 bytes"):
        master_key_from_settings(_resolved({"env": "K"}, {"K": "c2hvcnQ="}))


def test_an_unknown_plugin_is_a_config_error_naming_master_key_plugin() -> None:
    with pytest.raises(ConfigError) as caught:
        master_key_from_settings(_resolved({"plugin": "vault"}))
    assert caught.value.problems == ["master_key.plugin: unknown KMS plugin 'vault' (known: file-keyring)"]


def test_plugins_come_from_the_registry() -> None:
    assert KMS_PLUGINS["file-keyring"] is file_keyring


def test_file_keyring_uses_the_configured_version(tmp_path: Path) -> None:
    first, second = generate_master_key(), generate_master_key()
    _key_file(tmp_path, 1, first)
    _key_file(tmp_path, 2, second)
    resolved = _resolved({"plugin": "file-keyring", "options": {"directory": str(tmp_path), "version": "1"}})
    assert master_key_from_settings(resolved).key_id == LocalMasterKey.from_text(first).key_id
    assert file_keyring({"directory": str(tmp_path), "version": "2"}).key_id == (
        LocalMasterKey.from_text(second).key_id
    )


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"version": "1"}, "master_key.options.directory: is required"),
        ({"directory": "."}, "master_key.options.version: must be a version number"),
        ({"directory": ".", "version": "../1"}, "master_key.options.version: must be a version number"),
        ({"directory": ".", "version": "1", "colour": "red"}, "options.colour: not a file-keyring"),
        ({"directory": "/nonexistent", "version": "1"}, "cannot be read"),
    ],
)
def test_file_keyring_option_errors(options: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        file_keyring(options)


def test_file_keyring_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    _key_file(tmp_path, 1, generate_master_key(), mode=0o644)
    with pytest.raises(ConfigError, match="open to other users; restrict it with chmod 600"):
        file_keyring({"directory": str(tmp_path), "version": "1"})


def test_file_keyring_reports_a_malformed_key_file_without_its_content(tmp_path: Path) -> None:
    _key_file(tmp_path, 3, "hunter2hunter2")
    with pytest.raises(ConfigError) as caught:
        file_keyring({"directory": str(tmp_path), "version": "3"})
    assert "master_key.options.directory (v3.key)" in caught.value.message
    assert "hunter2" not in caught.value.message
