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
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from certificates import self_signed
from servers import VENV_BIN, Server, ServerError, Unavailable, Workspace, free_port, spawn

PHIGATE = VENV_BIN / "phigate"
ACCESS_TOKEN_SECONDS = 3600  # the longest the schema allows: a token outlives a round of rows
BENCH_VENDOR = "bench-lab"
BENCH_SCOPES = "system/Patient.r"  # reads Patient/1; a Claim search is refused (gateway-token-deny)
CLI_TIMEOUT_S = 60.0
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def start_plain(ws: Workspace, upstream: Server | None) -> Server:
    server, config = _start("gateway", ws, upstream, tls=False)
    try:
        server.token = issue_token(config)
    except ServerError as exc:
        server.token_problem = f"no access token: {exc}"
    return server


def start_tls(ws: Workspace, upstream: Server | None) -> Server:
    return _start("gateway-tls", ws, upstream, tls=True)[0]


def gateway_config(
    directory: Path, upstream_origin: str, public_port: int, admin_port: int, tls: bool
) -> Path:
    """Write the gateway's YAML and master key into ``directory``; return the YAML's path."""
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
    }
    path = directory / "phigate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


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


def _start(name: str, ws: Workspace, upstream: Server | None, tls: bool) -> tuple[Server, Path]:
    assert upstream is not None
    if not PHIGATE.is_file():
        raise Unavailable(f"{PHIGATE} does not exist (install the project: make test or pip install -e .)")
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=ws.root))  # a fresh store at every start
    config = gateway_config(directory, upstream.origin, port, free_port(), tls)
    scheme = "https" if tls else "http"
    argv = [str(PHIGATE), "serve", "--config", str(config)]
    return spawn(name, argv, ws, origin=f"{scheme}://127.0.0.1:{port}"), config
