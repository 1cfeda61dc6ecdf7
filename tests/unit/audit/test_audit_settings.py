from __future__ import annotations

import pytest
from pydantic import ValidationError

from phigate.settings.audit import AuditSettings


def test_retention_under_six_years_is_refused() -> None:
    with pytest.raises(ValidationError, match="retention_days"):
        AuditSettings(retention_days=365 * 5)
    assert AuditSettings().retention_days >= 6 * 365


def test_an_unknown_fsync_policy_is_refused() -> None:
    with pytest.raises(ValidationError, match="fsync"):
        AuditSettings(fsync="sometimes")  # type: ignore[arg-type]
