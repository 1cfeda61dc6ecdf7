"""The servers a benchmark run talks to, each a child process on 127.0.0.1 pinned to the server core.

Every server is started in its own session (so a Ctrl-C in the terminal reaches only the
benchmark, which then stops them in order) and logs into the run's temp dir; when one dies
or never becomes ready, the error quotes the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent
READY_PATH = "/fhir/metadata"
REDIS_URL = "redis://127.0.0.1:6379/0"  # the Redis the shared-state rows use (--redis)


class ServerError(RuntimeError):
    """A server could not be started or did not become ready."""


class Unavailable(RuntimeError):
    """A server cannot run on this machine (a tool is missing); its rows are skipped, not failed."""


@dataclass(frozen=True)
class Workspace:
    """Where and how servers run: the run's temp dir and the core they are pinned to."""

    root: Path
    server_cpu: int | None
    install: bool = True  # may a missing optional server (granian) be pip-installed into its own venv
    redis_url: str = REDIS_URL  # where the rows with shared state on Redis keep it


@dataclass
class Server:
    name: str
    origin: str  # scheme://127.0.0.1:port
    process: subprocess.Popen[bytes]
    log_path: Path
    # An access token the server issued to the benchmark's client, for the rows with ``bearer``;
    # kept out of repr so that no traceback or log line shows it.
    token: str | None = field(default=None, repr=False)
    token_problem: str = "this server issues no access token"  # why ``token`` is None
    # Run once the process has ended, in order (e.g. removing the server's keys from Redis).
    after_stop: list[Callable[[], object]] = field(default_factory=list, repr=False)

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``grace_s``; then ``after_stop``."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=grace_s)
        while self.after_stop:
            self.after_stop.pop(0)()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server's processes have used so far; None when unreadable."""
        return session_cpu_seconds(self.process.pid)


Launcher = Callable[[Workspace, "Server | None"], Server]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else list(argv)


def spawn(
    name: str,
    argv: Sequence[str],
    ws: Workspace,
    *,
    origin: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    after_stop: Sequence[Callable[[], object]] = (),
) -> Server:
    """Start ``argv`` pinned to the server core and wait until ``origin`` answers its ready path.

    ``after_stop`` runs once the server has stopped, also when it never became ready.
    """
    log_path = ws.root / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            pinned(argv, ws.server_cpu),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = Server(name=name, origin=origin, process=process, log_path=log_path, after_stop=list(after_stop))
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: Server, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"{server.name} exited with {server.process.returncode}: {log_tail(server)}")
        status = probe(server.origin + READY_PATH)
        if status == 200:
            return
        last = f"status {status}" if status else "no answer"
        time.sleep(0.1)
    raise ServerError(f"{server.name} not ready after {timeout_s:.0f} s ({last}): {log_tail(server)}")


def probe(url: str, headers: Mapping[str, str] | None = None) -> int | None:
    """One GET; the HTTP status, or None when nothing answered. TLS is not verified (self-signed)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def log_tail(server: Server, lines: int = 4) -> str:
    """The last lines of a server's log; of a Python traceback only its final line (the error)."""
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = [line.strip() for line in text.splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in tail):
        tail = tail[-1:]
    return " / ".join(tail[-lines:]) if tail else "(empty log)"


def session_cpu_seconds(session: int, proc: Path = Path("/proc")) -> float | None:
    """User + system CPU seconds of the live processes of ``session`` (a server and its children:
    each server starts a session of its own). None when ``/proc`` cannot be read (not Linux)."""
    ticks = 0
    try:
        entries = [entry for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        ticks += stat_ticks(stat, session)
    return ticks / os.sysconf("SC_CLK_TCK")


def stat_ticks(stat: str, session: int) -> int:
    """utime + stime of one ``/proc/<pid>/stat`` line when the process belongs to ``session``, else 0."""
    # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 13 or fields[3] != str(session):  # fields[3]: session id; [11], [12]: utime, stime
        return 0
    return int(fields[11]) + int(fields[12])


def require_tools(tools: Sequence[str]) -> list[str]:
    """The Debian packages to install for the tools missing from PATH."""
    package = {"nginx": "nginx", "wrk": "wrk", "taskset": "util-linux"}
    return sorted({package.get(t, t) for t in tools if shutil.which(t) is None})


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
