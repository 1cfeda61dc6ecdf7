"""``admin_api:``: who may call the admin API on the admin listener (``/admin/...``).

The admin API changes vendors' access, so it takes a bearer secret on top of the
admin listener's own isolation (loopback by default). The secret comes from a file
or an environment variable named here, never from the config itself, and is read
once at start-up. With neither set, the ``/admin`` routes are not served.

The EHR that starts SMART EHR launches (``POST /admin/launches``) may be given a
secret of its own, ``launch_token_file`` or ``launch_token_env``, which allows
that route and nothing else (least privilege: the EHR never holds the vendor
administrator's secret).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MIN_TOKEN_CHARS = 32


class AdminApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_file: Path | None = None  # a file holding the bearer secret (one line)
    token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")  # or a variable
    launch_token_file: Path | None = None  # the EHR's secret: POST /admin/launches only
    launch_token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")
