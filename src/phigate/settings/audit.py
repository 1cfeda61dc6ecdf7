"""``audit:``: the durable audit trail (spool, batching, checkpoints), detectors and alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from phigate.settings.traffic import RateText, parse_rate

_SIX_YEARS_DAYS = 6 * 365 + 2  # 45 CFR 164.316(b)(2)(i) and 164.530(j): six years, leap days included


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DetectorSettings(_Model):
    """Thresholds of the anomaly detectors; each alert names the threshold it crossed."""

    auth_failures: Annotated[int, Field(ge=1)] = 10  # authorisation failures by one client or IP ...
    auth_failure_window_seconds: Annotated[float, Field(gt=0)] = 60.0  # ... within this window
    restricted_attempts: Annotated[int, Field(ge=1)] = 3  # forbidden resource types / endpoints
    restricted_window_seconds: Annotated[float, Field(gt=0)] = 300.0
    distinct_patients: Annotated[int, Field(ge=1)] = 50  # distinct patients by one client ...
    distinct_patients_window_seconds: Annotated[float, Field(gt=0)] = 300.0  # ... within this window
    honey_patients: tuple[str, ...] = ()  # canary records no legitimate client reads: any access alerts
    volume_factor: Annotated[float, Field(gt=1)] = 5.0  # requests per minute above factor x baseline
    volume_min_per_minute: Annotated[int, Field(ge=1)] = 120  # ... and above this floor
    business_hours: tuple[int, int] = (7, 19)  # local hours [start, end) when access is usual
    utc_offset_hours: Annotated[int, Field(ge=-12, le=14)] = 0
    off_hours: bool = False  # alert on access outside business_hours
    new_network_prefix: Annotated[int, Field(ge=8, le=32)] = 24  # IPv4 prefix that counts as one network
    new_network: bool = False  # alert when a client calls from a network it has not used before
    bulk_operations: tuple[str, ...] = ("export", "everything")  # operations (no "$") that alert
    bulk_page_size: Annotated[int, Field(ge=1)] = 1000  # a search asking for a larger _count alerts


class ReactionSettings(_Model):
    """What the gateway does at once for an alert of a given detector (none by default)."""

    suspend_client: tuple[str, ...] = ()  # detector names whose alerts suspend the client
    revoke_tokens: tuple[str, ...] = ()  # detector names whose alerts revoke the client's tokens
    tighten_rate: tuple[str, ...] = ()  # detector names whose alerts hold the client to `tightened_rate`
    tightened_rate: RateText = parse_rate("10/minute")  # on every node, through the traffic control point
    tighten_seconds: Annotated[float, Field(gt=0, le=366 * 86400)] = 900.0  # then it lifts itself


class SiemSettings(_Model):
    """Forwarding the stored trail to a SIEM (``phigate audit forward``)."""

    url: str  # tls://host:port (RFC 5425), or tcp://host:port in environment: dev only
    format: Literal["syslog", "json"] = "syslog"  # RFC 5424 octet-counted frames, or JSON lines
    ca_file: Path | None = None  # the CA that signed the SIEM's certificate (default: the system's)
    cert_file: Path | None = None  # a client certificate, when the SIEM asks for one
    key_file: Path | None = None
    hostname: str | None = None  # the syslog HOSTNAME field (default: this host's name)
    cursor: Annotated[str, Field(min_length=1, max_length=64)] = "siem"  # names this target's position
    batch_size: Annotated[int, Field(ge=1, le=10000)] = 500
    retries: Annotated[int, Field(ge=0, le=100)] = 5  # then the forwarder gives up (exit 1 / logged)
    retry_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0  # first back-off, doubling
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0  # with --follow


class AlertEmailSettings(_Model):
    """Alerts by email (SMTP)."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    sender: str
    recipients: Annotated[tuple[str, ...], Field(min_length=1)]
    security: Literal["starttls", "tls", "none"] = "starttls"  # "none": environment dev only
    ca_file: Path | None = None  # the CA of the mail server's certificate (default: the system's)
    username: str | None = None
    password_env: str | None = None  # the password's environment variable (read once at start-up)
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0


class AuditSettings(_Model):
    enabled: bool = True
    # Where the node's append-only spool lives; default: beside a SQLite store, else the temp dir.
    spool_dir: Path | None = None
    # "interval": write() per event (survives kill -9), fsync every fsync_interval_seconds (power loss
    # loses at most that window); "always": fsync before the response's last byte; "never": the OS decides.
    fsync: Literal["always", "interval", "never"] = "interval"
    fsync_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.2
    batch_size: Annotated[int, Field(ge=1, le=10000)] = 500
    flush_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    checkpoint_interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 30.0
    inspect_max_bytes: Annotated[int, Field(ge=0)] = (
        2 * 1024 * 1024
    )  # parsed for Patient ids; beyond: scanned
    retention_days: Annotated[int, Field(ge=_SIX_YEARS_DAYS)] = _SIX_YEARS_DAYS
    detectors: DetectorSettings = DetectorSettings()
    reactions: ReactionSettings = ReactionSettings()
    webhook_url: HttpUrl | None = None
    webhook_secret_env: str | None = None  # the HMAC key's environment variable (read once at start-up)
    alert_dedup_seconds: Annotated[float, Field(gt=0)] = 600.0
    siem: SiemSettings | None = None
    email: AlertEmailSettings | None = None
