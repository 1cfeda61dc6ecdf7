"""The typed, frozen configuration of one gateway node.

``phigate.yaml`` is read once at start-up by :func:`load_settings`, checked
against this schema and passed down; nothing reads the environment or the file
again. Every problem is reported with its key path (``upstreams.ehr.targets.0.url:
...``). Secrets are never written inline: a :class:`SecretSource` names a file or
an environment variable and is resolved once, at load, into a ``SecretStr`` whose
``repr`` hides the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from phigate.errors import ConfigError
from phigate.settings.admin_api import AdminApiSettings
from phigate.settings.audit import AuditSettings
from phigate.settings.contracts import ContractsSettings
from phigate.settings.people import PeopleSettings
from phigate.settings.traffic import TrafficSettings
from phigate.settings.validation import ValidationSettings
from phigate.settings.vendors import VendorSettings

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Environment(StrEnum):
    production = "production"
    dev = "dev"


class SecretSource(_Model):
    """Where a secret lives: exactly one of ``file`` or ``env``."""

    file: Path | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")
        return self

    def describe(self) -> str:
        return f"file {self.file}" if self.file is not None else f"environment variable {self.env}"


class ClientCertMode(StrEnum):
    none = "none"
    optional = "optional"
    required = "required"


class TlsSettings(_Model):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_cert: ClientCertMode = ClientCertMode.none

    @model_validator(mode="after")
    def _client_ca_for_mtls(self) -> TlsSettings:
        if self.client_cert is not ClientCertMode.none and self.client_ca_file is None:
            raise ValueError("client_cert requires client_ca_file (the CA that issues client certificates)")
        return self


class ListenerSettings(_Model):
    host: str = "127.0.0.1"
    port: Port
    tls: TlsSettings | None = None
    plain_http: bool = False
    header_timeout_seconds: Seconds = 10.0  # a request's headers must arrive within this (slowloris)

    @model_validator(mode="after")
    def _tls_or_explicit_plain(self) -> ListenerSettings:
        if self.tls is None and not self.plain_http:
            raise ValueError("give 'tls' (cert_file, key_file) or set plain_http: true explicitly")
        if self.tls is not None and self.plain_http:
            raise ValueError("'tls' and plain_http: true exclude each other")
        return self


class ListenersSettings(_Model):
    public: ListenerSettings = ListenerSettings(port=8443, plain_http=True)
    admin: ListenerSettings = ListenerSettings(port=9443, plain_http=True)
    hsts_max_age: Annotated[int, Field(ge=0)] = 63072000
    trusted_proxies: tuple[str, ...] = ()
    drain_seconds: Seconds = 10.0


class RequestLimits(_Model):
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    max_header_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024
    max_header_count: Annotated[int, Field(ge=8, le=1000)] = 64
    max_url_bytes: Annotated[int, Field(ge=256)] = 8 * 1024


class UpstreamTarget(_Model):
    url: str

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://ehr.example.org/fhir")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")


class UpstreamTimeouts(_Model):
    connect: Seconds = 3.0
    read: Seconds = 30.0
    total: Seconds = 60.0


class HealthCheckSettings(_Model):
    path: str = "/metadata"
    interval_seconds: Seconds = 10.0
    timeout_seconds: Seconds = 3.0


class CircuitBreakerSettings(_Model):
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    reset_seconds: Seconds = 30.0


class UpstreamSettings(_Model):
    targets: Annotated[tuple[UpstreamTarget, ...], Field(min_length=1)]
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    timeouts: UpstreamTimeouts = UpstreamTimeouts()
    max_connections: Annotated[int, Field(ge=1, le=10000)] = 100
    keepalive_seconds: Seconds = 30.0
    health_check: HealthCheckSettings = HealthCheckSettings()
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()

    @model_validator(mode="after")
    def _client_cert_pair(self) -> UpstreamSettings:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together")
        return self


class RouteSettings(_Model):
    base: str = "/fhir"
    upstream: str
    validation: ValidationSettings | None = None  # this route's input rules (default: the top-level section)

    @field_validator("base")
    @classmethod
    def _base_path(cls, value: str) -> str:
        if not value.startswith("/") or value != value.rstrip("/") or "//" in value:
            raise ValueError("must be a path such as /fhir (leading slash, no trailing slash)")
        return value


class StorageSettings(_Model):
    """The durable store. ``url`` may not hold a password; use ``url_secret`` for one that does."""

    url: str | None = "sqlite+aiosqlite:///phigate.db"
    url_secret: SecretSource | None = None

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).password:
            raise ValueError(
                "holds a password inline; move the URL to a file or variable named by url_secret"
            )
        if value is not None and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class MasterKeySettings(_Model):
    """The key-encryption key: a 32-byte key, base64 or hex, from a file, the environment or a KMS plugin."""

    file: Path | None = None
    env: str | None = None
    plugin: str | None = None
    options: Mapping[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one(self) -> MasterKeySettings:
        if sum(x is not None for x in (self.file, self.env, self.plugin)) != 1:
            raise ValueError("give exactly one of 'file', 'env' or 'plugin'")
        return self


class OAuthSettings(_Model):
    """phigate's own authorisation server (SMART Backend Services) and its tokens."""

    issuer: str | None = None  # public base URL; default https://<public host>:<port>
    access_token_seconds: Annotated[int, Field(ge=30, le=3600)] = 300
    signing_algorithm: Literal["ES256", "ES384", "RS256", "PS256"] = "ES256"
    signing_key_rotation_days: Annotated[int, Field(ge=1, le=365)] = 30
    assertion_max_seconds: Annotated[int, Field(ge=30, le=300)] = 300
    clock_skew_seconds: Annotated[int, Field(ge=0, le=300)] = 30
    max_token_bytes: Annotated[int, Field(ge=1024, le=65536)] = 8192
    allow_loopback_jwks: bool = False  # a client's jwks_uri on loopback/private addresses: dev and tests only
    fetch_ca_file: Path | None = None  # CA bundle for JWKS and discovery fetches (default: the system store)

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("must be an https URL without query or fragment, such as https://gw.example.org")
        return value.rstrip("/")


class ExternalIssuerSettings(_Model):
    """An external OpenID Connect provider whose access tokens the gateway accepts (resource-server mode)."""

    issuer: str
    audience: str
    algorithms: Annotated[tuple[Literal["RS256", "RS384", "RS512", "PS256", "PS384", "ES256", "ES384"], ...],
                          Field(min_length=1)] = ("RS256",)  # fmt: skip
    jwks_cache_seconds: Annotated[int, Field(ge=10, le=86400)] = 300
    client_claim: str = "client_id"  # the claim naming the calling client (azp for some providers)
    scope_claim: str = "scope"  # space-separated string or list (scp)
    clients: Mapping[str, str] = Field(default_factory=dict)  # external client id -> phigate client id

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https URL")
        return value.rstrip("/")


class SharedStateSettings(_Model):
    """State every node must see at once: replay caches, revocations, counters.

    ``memory://`` keeps it in this process (one node); ``redis://host:port/db`` shares it.
    """

    url: str | None = "memory://"
    url_secret: SecretSource | None = None
    namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = (
        "phigate"  # prefixes every Redis key
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("must start with memory://, redis:// or rediss://")
        if urlsplit(value).password:
            raise ValueError(
                "holds a password inline; move the URL to a file or variable named by url_secret"
            )
        return value


class LoggingSettings(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Settings(_Model):
    environment: Environment = Environment.production
    node_id: str | None = None
    listeners: ListenersSettings = ListenersSettings()
    limits: RequestLimits = RequestLimits()
    upstreams: Annotated[dict[str, UpstreamSettings], Field(min_length=1)]
    routes: Annotated[tuple[RouteSettings, ...], Field(min_length=1)]
    storage: StorageSettings = StorageSettings()
    master_key: MasterKeySettings
    oauth: OAuthSettings = OAuthSettings()
    external_issuers: tuple[ExternalIssuerSettings, ...] = ()
    shared_state: SharedStateSettings = SharedStateSettings()
    logging: LoggingSettings = LoggingSettings()
    # -- capability sections: one line each, models in phigate/settings/<capability>.py --
    people: PeopleSettings = PeopleSettings()
    contracts: ContractsSettings = ContractsSettings()
    audit: AuditSettings = AuditSettings()
    validation: ValidationSettings = ValidationSettings()
    traffic: TrafficSettings = TrafficSettings()
    vendors: VendorSettings = VendorSettings()
    admin_api: AdminApiSettings = AdminApiSettings()

    @property
    def issuer(self) -> str:
        """The authorisation server's issuer: configured, or the public listener's own https URL."""
        if self.oauth.issuer is not None:
            return self.oauth.issuer
        public = self.listeners.public
        scheme = "http" if public.plain_http else "https"
        return f"{scheme}://{public.host}:{public.port}"

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = []
        for i, route in enumerate(self.routes):
            if route.upstream not in self.upstreams:
                known = ", ".join(sorted(self.upstreams))
                problems.append(f"routes.{i}.upstream: '{route.upstream}' is not one of upstreams ({known})")
        bases = [r.base for r in self.routes]
        if len(set(bases)) != len(bases):
            problems.append("routes: two routes share one base path")
        if self.environment is Environment.production:
            if self.oauth.allow_loopback_jwks:
                problems.append("oauth.allow_loopback_jwks: refused outside environment: dev")
            for name in ("public", "admin"):
                if getattr(self.listeners, name).plain_http:
                    problems.append(
                        f"listeners.{name}.plain_http: plain HTTP is refused outside environment: dev"
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class ResolvedSettings(_Model):
    """Settings plus the secrets they name, read once at load."""

    settings: Settings
    storage_url: SecretStr
    shared_state_url: SecretStr = SecretStr("memory://")
    master_key: SecretStr | None = None  # None when a KMS plugin holds the key
    source: Path | None = None


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> ResolvedSettings:
    """Read, check and resolve ``path``; raise :class:`ConfigError` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(problems=[f"{path}: cannot be read ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(problems=[f"{path}: not valid YAML{where}"]) from None
    return resolve(parse_settings(raw, base_dir=path.parent), environ=environ, source=path)


def parse_settings(raw: Any, base_dir: Path | None = None) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(problems=["(top level): must be a mapping of keys"])
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems=_problems(exc)) from None
    return _relative_to(settings, base_dir) if base_dir is not None else settings


def resolve(
    settings: Settings, environ: Mapping[str, str] | None = None, source: Path | None = None
) -> ResolvedSettings:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    url = settings.storage.url or ""
    if settings.storage.url_secret is not None:
        try:
            url = read_secret(settings.storage.url_secret, env)
        except ConfigError as exc:
            problems.extend(f"storage.url_secret: {p}" for p in exc.problems)
    shared_url = settings.shared_state.url or ""
    if settings.shared_state.url_secret is not None:
        try:
            shared_url = read_secret(settings.shared_state.url_secret, env)
        except ConfigError as exc:
            problems.extend(f"shared_state.url_secret: {p}" for p in exc.problems)
    master_key: SecretStr | None = None
    mk = settings.master_key
    if mk.plugin is None:
        try:
            master_key = SecretStr(read_secret(SecretSource(file=mk.file, env=mk.env), env))
        except ConfigError as exc:
            problems.extend(f"master_key: {p}" for p in exc.problems)
    problems.extend(_missing_files(settings))
    if problems:
        raise ConfigError(problems=problems)
    return ResolvedSettings(
        settings=settings,
        storage_url=SecretStr(url),
        shared_state_url=SecretStr(shared_url),
        master_key=master_key,
        source=source,
    )


def read_secret(source: SecretSource, environ: Mapping[str, str]) -> str:
    if source.env is not None:
        value = environ.get(source.env)
        if not value:
            raise ConfigError(problems=[f"environment variable {source.env} is not set"])
        return value.strip()
    assert source.file is not None
    try:
        return source.file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(problems=[f"file {source.file} cannot be read ({exc.strerror})"]) from None


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see phigate.example.yaml)"
        elif error["type"] == "missing":
            message = "is required"
        for line in message.split("\n"):
            problems.append(f"{path}: {line}" if path != "(top level)" or ":" not in line else line)
    return problems


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Resolve relative file paths against the directory of the config file."""

    def fix(model: Any) -> Any:
        if isinstance(model, BaseModel):
            updates = {name: fix(getattr(model, name)) for name in type(model).model_fields}
            return model.model_copy(update=updates)
        if isinstance(model, Path):
            return model if model.is_absolute() else base / model
        if isinstance(model, tuple):
            return tuple(fix(m) for m in model)
        if isinstance(model, dict):
            return {k: fix(v) for k, v in model.items()}
        return model

    fixed: Settings = fix(settings)
    url = fixed.storage.url
    prefix = "sqlite+aiosqlite:///"
    if url and url.startswith(prefix) and not url[len(prefix) :].startswith("/"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:":
            storage = fixed.storage.model_copy(update={"url": prefix + str(base / rest)})
            fixed = fixed.model_copy(update={"storage": storage})
    return fixed


def _missing_files(settings: Settings) -> list[str]:
    problems = []
    for name in ("public", "admin"):
        tls = getattr(settings.listeners, name).tls
        if tls is None:
            continue
        for key in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(tls, key)
            if path is not None and not path.is_file():
                problems.append(f"listeners.{name}.tls.{key}: file {path} does not exist")
    ca = settings.oauth.fetch_ca_file
    if ca is not None and not ca.is_file():
        problems.append(f"oauth.fetch_ca_file: file {ca} does not exist")
    for up_name, upstream in settings.upstreams.items():
        for key in ("ca_file", "client_cert_file", "client_key_file"):
            path = getattr(upstream, key)
            if path is not None and not path.is_file():
                problems.append(f"upstreams.{up_name}.{key}: file {path} does not exist")
    return problems
