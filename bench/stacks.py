"""The candidate stacks for the gateway: a bare ASGI proxy (``candidates/``) on an ASGI server.

uvicorn runs from the project venv. granian is not a project dependency, so it lives in its
own venv (``bench/.venv-granian``), created on first use with the project's aiohttp and
uvloop versions; when it cannot be installed, its row is skipped with the reason.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from servers import BENCH_DIR, VENV_BIN, Server, Unavailable, Workspace, free_port, spawn

CANDIDATES = BENCH_DIR / "candidates"
GRANIAN_VENV = BENCH_DIR / ".venv-granian"
GRANIAN_VERSION = "2.8.9"


def uvicorn_aiohttp(ws: Workspace, upstream: Server | None) -> Server:
    return _uvicorn("uvicorn-aiohttp", "aiohttp_proxy", ws, upstream)


def uvicorn_httpx(ws: Workspace, upstream: Server | None) -> Server:
    return _uvicorn("uvicorn-httpx", "httpx_proxy", ws, upstream)


def granian_aiohttp(ws: Workspace, upstream: Server | None) -> Server:
    assert upstream is not None
    granian = granian_executable(install=ws.install)
    port = free_port()
    argv = [
        str(granian), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--runtime-mode", "st", "--loop", "uvloop", "--no-ws",
        "--log-level", "warning", "--no-access-log", "--working-dir", str(CANDIDATES),
        "aiohttp_proxy:app",
    ]  # fmt: skip
    env = {"BENCH_UPSTREAM": upstream.origin}
    return spawn("granian-aiohttp", argv, ws, origin=f"http://127.0.0.1:{port}", env=env, cwd=CANDIDATES)


def granian_executable(install: bool = True) -> Path:
    """granian in its own venv, installed there on first use; :class:`Unavailable` when it cannot be."""
    granian = GRANIAN_VENV / "bin" / "granian"
    if granian.is_file():
        return granian
    if not install:
        raise Unavailable(f"granian is not installed in {GRANIAN_VENV} (run without --no-install)")
    pins = [
        f"granian=={GRANIAN_VERSION}",
        f"aiohttp=={importlib.metadata.version('aiohttp')}",
        f"uvloop=={importlib.metadata.version('uvloop')}",
    ]
    steps = [
        [sys.executable, "-m", "venv", str(GRANIAN_VENV)],
        [str(GRANIAN_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *pins],
    ]  # fmt: skip
    print(f"installing {', '.join(pins)} into {GRANIAN_VENV} ...", flush=True)
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise Unavailable("granian could not be installed: pip took over 300 s") from None
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise Unavailable(f"granian could not be installed: {last[0]}")
    if not granian.is_file():
        raise Unavailable("granian could not be installed: no granian executable after pip install")
    return granian


def _uvicorn(name: str, module: str, ws: Workspace, upstream: Server | None) -> Server:
    assert upstream is not None
    port = free_port()
    argv = [
        str(VENV_BIN / "python"), "-m", "uvicorn", f"{module}:app", "--app-dir", str(CANDIDATES),
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--lifespan", "on", "--no-access-log", "--log-level", "warning", "--backlog", "4096",
    ]  # fmt: skip
    env = {"BENCH_UPSTREAM": upstream.origin}
    return spawn(name, argv, ws, origin=f"http://127.0.0.1:{port}", env=env)
