"""The admin API's secrets: read once from a file or a variable, long enough, each named in its error."""

from __future__ import annotations

from pathlib import Path

import pytest

from phigate.asgi.admin_vendors import load_admin_token, load_launch_token
from phigate.errors import ConfigError
from phigate.settings.admin_api import AdminApiSettings

SECRET = "s" * 40


def test_the_launch_secret_is_separate_from_the_admin_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "launch.token").write_text(SECRET + "\n")
    monkeypatch.setenv("PHIGATE_TEST_ADMIN", "a" * 40)
    settings = AdminApiSettings(token_env="PHIGATE_TEST_ADMIN", launch_token_file=tmp_path / "launch.token")
    assert load_admin_token(settings) == "a" * 40
    assert load_launch_token(settings) == SECRET
    assert load_launch_token(AdminApiSettings()) is None


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            AdminApiSettings(launch_token_file=Path("/nonexistent/launch.token")),
            "admin_api.launch_token_file",
        ),
        (AdminApiSettings(launch_token_env="PHIGATE_TEST_SHORT"), "admin_api.launch_token"),
    ],
)
def test_a_missing_or_short_launch_secret_is_refused_by_name(
    settings: AdminApiSettings, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHIGATE_TEST_SHORT", "short")
    with pytest.raises(ConfigError) as refused:
        load_launch_token(settings)
    assert named in str(refused.value) and "short" not in str(refused.value)
