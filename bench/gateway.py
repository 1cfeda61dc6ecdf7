"""The phigate gateway under test: ``phigate serve --config`` on a config generated for the run.

Environment ``dev`` allows the plain-HTTP listeners that make the gateway row comparable
with the plain-HTTP nginx and candidate rows; the TLS row gives the public listener a
self-signed certificate instead. Logging is at ``warning`` so that no row pays for access
lines the others do not write.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
from pathlib import Path
from typing import Any

import yaml
from certificates import self_signed
from servers import VENV_BIN, Server, Unavailable, Workspace, free_port, spawn

PHIGATE = VENV_BIN / "phigate"


def start_plain(ws: Workspace, upstream: Server | None) -> Server:
    return _start("gateway", ws, upstream, tls=False)


def start_tls(ws: Workspace, upstream: Server | None) -> Server:
    return _start("gateway-tls", ws, upstream, tls=True)


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
    }
    path = directory / "phigate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _start(name: str, ws: Workspace, upstream: Server | None, tls: bool) -> Server:
    assert upstream is not None
    if not PHIGATE.is_file():
        raise Unavailable(f"{PHIGATE} does not exist (install the project: make test or pip install -e .)")
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=ws.root))  # a fresh store at every start
    config = gateway_config(directory, upstream.origin, port, free_port(), tls)
    scheme = "https" if tls else "http"
    return spawn(
        name, [str(PHIGATE), "serve", "--config", str(config)], ws, origin=f"{scheme}://127.0.0.1:{port}"
    )
