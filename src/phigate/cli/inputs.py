"""What operators type or point to, read into domain values; a bad value is refused naming its field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from phigate.vendors.records import RegistrationError


def day(value: str | None, where: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RegistrationError(where, "give a date as YYYY-MM-DD") from None


def moment(value: str | None, where: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RegistrationError(where, "give a time as YYYY-MM-DDTHH:MM[:SS][+00:00]") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def yaml_answers(path: Path) -> dict[str, str]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise RegistrationError(str(path.name), "cannot be read as YAML") from None
    if not isinstance(document, dict) or not all(isinstance(k, str) for k in document):
        raise RegistrationError(str(path.name), "must be a mapping of names to answers")
    return {key: str(value) for key, value in document.items()}
