"""nginx as the benchmark's upstream and as the plain reverse proxy (the C reference).

Configs are rendered from ``nginx/*.conf.template`` into the run's temp dir; every path
nginx writes (pid, error log, temp dirs) lives there, so no root-owned path is touched.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from certificates import self_signed
from servers import BENCH_DIR, Server, Workspace, free_port, spawn

TEMPLATES = BENCH_DIR / "nginx"
FIXTURES = BENCH_DIR / "fixtures"


def render(template: str, values: dict[str, str]) -> str:
    """Fill ``@NAME@`` placeholders; a placeholder left unfilled is an error, not a broken config."""
    text = template
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
    if left:
        raise ValueError(f"nginx template placeholders without a value: {', '.join(left)}")
    return text


def start_upstream(ws: Workspace, upstream: Server | None = None) -> Server:
    port = free_port()
    return _start("upstream", "upstream.conf.template", ws, {"PORT": str(port)}, f"http://127.0.0.1:{port}")


def start_proxy(ws: Workspace, upstream: Server | None) -> Server:
    assert upstream is not None
    port = free_port()
    values = {"PORT": str(port), "UPSTREAM_PORT": _port_of(upstream)}
    return _start("nginx-proxy", "proxy.conf.template", ws, values, f"http://127.0.0.1:{port}")


def start_tls_proxy(ws: Workspace, upstream: Server | None) -> Server:
    assert upstream is not None
    port = free_port()
    cert, key = self_signed(ws.root)
    values = {"PORT": str(port), "UPSTREAM_PORT": _port_of(upstream), "CERT": str(cert), "KEY": str(key)}
    return _start("nginx-proxy-tls", "proxy-tls.conf.template", ws, values, f"https://127.0.0.1:{port}")


def _start(name: str, template: str, ws: Workspace, values: dict[str, str], origin: str) -> Server:
    prefix = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=ws.root))
    prefix.chmod(0o755)  # workers run as nobody when the benchmark runs as root
    (prefix / "tmp").mkdir()
    values = {**values, "PREFIX": str(prefix), "FIXTURES": str(FIXTURES)}
    conf = prefix / "nginx.conf"
    conf.write_text(render((TEMPLATES / template).read_text(encoding="utf-8"), values), encoding="utf-8")
    argv = ["nginx", "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
    return spawn(name, argv, ws, origin=origin)


def _port_of(server: Server) -> str:
    return server.origin.rsplit(":", 1)[1]
