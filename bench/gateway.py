"""The phigate gateway under test: ``phigate serve --config`` on a config generated for the run.

Environment ``dev`` allows the plain-HTTP listeners that make the gateway row comparable
with the plain-HTTP nginx and candidate rows; the TLS row gives the public listener a
self-signed certificate instead. Logging is at ``warning`` so that no row pays for access
lines the others do not write.

The plain gateway also issues an access token for the rows that carry one: once it runs,
the ``phigate`` CLI registers a vendor and a client (scope ``system/Patient.r``, an ES384
key pair made by the CLI) against the same config file and store, then ``phigate token``
runs the SMART Backend Services flow against the gateway's token endpoint. Tokens live
``ACCESS_TOKEN_SECONDS`` so that one outlives every row of a round. When that fails, the
gateway still serves its other rows; the token rows fail with the reason.

Every configuration under test is one :class:`Variant` in :data:`VARIANTS`, named as the server
of its rows: what it adds to the base config (rate limits, audit settings), whether it keeps its
shared state on Redis, whether it issues a token. Each runs as a gateway process of its own.
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from certificates import self_signed
from redis_namespace import RedisNamespace
from servers import VENV_BIN, Server, ServerError, Unavailable, Workspace, free_port, spawn

PHIGATE = VENV_BIN / "phigate"
ACCESS_TOKEN_SECONDS = 3600  # the longest the schema allows: a token outlives a round of rows
BENCH_VENDOR = "bench-lab"
BENCH_SCOPES = "system/Patient.r"  # reads Patient/1; a Claim search is refused (gateway-token-deny)
CLI_TIMEOUT_S = 60.0
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


# Limits no benchmark load reaches (the schema's largest count, per second: one request per µs, and
# a burst as large), so nothing is refused and every request is counted: what the limiter costs.
UNREACHED = "100000000 requests/second"
UNREACHED_LIMITS = {
    "per_ip": {"rate_limit": UNREACHED},  # before authentication, every request
    "global": {"rate_limit": UNREACHED},  # every request, all nodes
    "default_client": {"rate_limit": UNREACHED},  # after authentication: token rows only
}


@dataclass(frozen=True)
class Variant:
    """One gateway configuration under test, run as a process of its own."""

    settings: Mapping[str, Any] = field(default_factory=dict)  # merged over the base config, by section
    tls: bool = False  # TLS on the public listener (else plain HTTP)
    redis: bool = False  # shared_state on the benchmark's Redis, in a fresh namespace removed afterwards
    issues_token: bool = True  # register the benchmark's client and get it an access token


VARIANTS: dict[str, Variant] = {
    "gateway": Variant(),
    "gateway-tls": Variant(tls=True, issues_token=False),
    "gateway-limits": Variant({"traffic": UNREACHED_LIMITS}),
    "gateway-limits-redis": Variant({"traffic": UNREACHED_LIMITS}, redis=True),
    "gateway-audit-off": Variant({"audit": {"enabled": False}}),
    "gateway-fsync-always": Variant({"audit": {"fsync": "always"}}),
}


def launcher(name: str) -> Callable[[Workspace, Server | None], Server]:
    """The run.LAUNCHERS entry that starts the gateway variant ``name``."""
    variant = VARIANTS[name]

    def launch(ws: Workspace, upstream: Server | None) -> Server:
        return start(name, variant, ws, upstream)

    return launch


def start(name: str, variant: Variant, ws: Workspace, upstream: Server | None) -> Server:
    """``phigate serve`` on the variant's config, with a token for the benchmark's client if it issues one."""
    assert upstream is not None
    if not PHIGATE.is_file():
        raise Unavailable(f"{PHIGATE} does not exist (install the project: make test or pip install -e .)")
    settings = dict(variant.settings)
    after_stop: list[Callable[[], object]] = []
    if variant.redis:
        namespace = RedisNamespace.fresh(ws.redis_url)
        namespace.require()
        settings["shared_state"] = {"url": namespace.url, "namespace": namespace.name}
        after_stop.append(namespace.remove)
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=ws.root))  # a fresh store at every start
    config = gateway_config(directory, upstream.origin, port, free_port(), variant.tls, settings)
    scheme = "https" if variant.tls else "http"
    argv = [str(PHIGATE), "serve", "--config", str(config)]
    server = spawn(name, argv, ws, origin=f"{scheme}://127.0.0.1:{port}", after_stop=after_stop)
    if variant.issues_token:
        try:
            server.token = issue_token(config)
        except ServerError as exc:
            server.token_problem = f"no access token: {exc}"
    return server


def gateway_config(
    directory: Path,
    upstream_origin: str,
    public_port: int,
    admin_port: int,
    tls: bool,
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write the gateway's YAML and master key into ``directory``; return the YAML's path.

    ``settings`` are top-level sections merged over the base config: a mapping is merged into
    the base's section of that name (one level deep), any other value replaces it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "master.key"
    key_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode("ascii") + "\n", encoding="ascii")
    key_file.chmod(0o600)
    public: dict[str, Any] = {"host": "127.0.0.1", "port": public_port}
    if tls:
        cert, key = self_signed(directory)
        public["tls"] = {"cert_file": str(cert), "key_file": str(key)}
    else:
        public["plain_http"] = True
    config = {
        "environment": "dev",
        "listeners": {
            "public": public,
            "admin": {"host": "127.0.0.1", "port": admin_port, "plain_http": True},
        },
        "upstreams": {"ehr": {"targets": [{"url": f"{upstream_origin}/fhir"}]}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "storage": {"url": f"sqlite+aiosqlite:///{directory / 'phigate.db'}"},
        "master_key": {"file": str(key_file)},
        "logging": {"level": "warning", "format": "json"},
        "oauth": {"access_token_seconds": ACCESS_TOKEN_SECONDS},
        # the spool, written (and fsynced) on every audited request, in the run's temp dir on disk
        "audit": {"spool_dir": str(directory / "audit-spool")},
        # the bench vendor has no risk record; unmanaged vendors are refused by default (issue 9)
        "vendors": {"unmanaged_vendors": "allow"},
    }
    path = directory / "phigate.yaml"
    path.write_text(yaml.safe_dump(merged(config, settings or {}), sort_keys=False), encoding="utf-8")
    return path


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged over it, one level deep (a section's keys merge, values replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def client_commands(config: Path, credentials: Path) -> list[list[str]]:
    """The CLI calls that register the benchmark's vendor and client; the last writes ``credentials``."""
    cli, on = str(PHIGATE), ["-c", str(config)]
    return [
        [cli, "vendor", "add", "Bench Lab", "--id", BENCH_VENDOR, *on],
        [
            cli, "client", "add", "--vendor", BENCH_VENDOR, "--name", "bench", "--scopes", BENCH_SCOPES,
            "--generate-key", "--alg", "ES384", "--credentials-out", str(credentials), *on,
        ],
    ]  # fmt: skip


def token_command(credentials: Path) -> list[str]:
    """``phigate token``: prints an access token (plain HTTP, so no --cacert)."""
    return [str(PHIGATE), "token", "--credentials", str(credentials)]


def read_token(stdout: str) -> str:
    """The access token ``phigate token`` printed; ValueError when its output is not one compact JWT."""
    token = stdout.strip()
    if _JWT.fullmatch(token) is None:
        raise ValueError("phigate token did not print one compact JWT")
    return token


def issue_token(config: Path) -> str:
    """Register the benchmark's client in the running gateway's store and get it an access token."""
    credentials = config.parent / "bench-client.json"
    for argv in client_commands(config, credentials):
        _cli(argv)
    try:
        return read_token(_cli(token_command(credentials)))
    except ValueError as exc:
        raise ServerError(str(exc)) from None


def _cli(argv: list[str]) -> str:
    """Run one phigate command; its stdout, or ServerError quoting the command and its error output."""
    what = " ".join(a for a in argv[1:3] if not a.startswith("-"))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerError(f"phigate {what}: {exc}") from None
    if done.returncode != 0:
        # stderr only: on success stdout would be the token, and a failure never prints one
        tail = " / ".join(line.strip() for line in done.stderr.strip().splitlines()[-3:] if line.strip())
        raise ServerError(f"phigate {what} exited {done.returncode}: {tail or '(no output)'}")
    return done.stdout
