"""Real listeners on 127.0.0.1: what a TLS client can and cannot negotiate, mTLS, and graceful drain.

The refusals are probed three ways: Python's ssl module, the system ``openssl
s_client`` and, when installed under tests/.cache, the sslyze scanner. The
unit tests in tests/unit/test_tls_context.py show (with controls) that each
probing client is able to speak what it offers, so a refusal here is the
server's doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from phigate.adapters.pki import DevPki, ensure_dev_pki, issue_client_certificate
from phigate.asgi.server import Listener, RunningServers, serve
from phigate.errors import ConfigError, PhigateError
from phigate.settings import ClientCertMode, ListenerSettings, TlsSettings

REPO = Path(__file__).resolve().parents[2]
SSLYZE = REPO / "tests" / ".cache" / "sslyze-venv" / "bin" / "sslyze"
OPENSSL = shutil.which("openssl")
GATE_TIMEOUT = 10.0  # no test request waits longer than this, whatever goes wrong


class TinyApp:
    """``/`` answers at once; ``/slow`` answers when the test opens the gate."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b"ok"
        if scope["path"] == "/slow":
            self.entered.set()
            await asyncio.wait_for(self.gate.wait(), GATE_TIMEOUT)
            body = b"drained"
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    """A port that was free a moment ago (settings require a real port, so no port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


def tls_listener(pki: DevPki, mode: ClientCertMode = ClientCertMode.none) -> ListenerSettings:
    tls = TlsSettings(
        cert_file=pki.server_cert,
        key_file=pki.server_key,
        client_ca_file=pki.ca_cert if mode is not ClientCertMode.none else None,
        client_cert=mode,
    )
    return ListenerSettings(host="127.0.0.1", port=free_port(), tls=tls)


@contextlib.asynccontextmanager
async def running(settings: ListenerSettings, app: TinyApp | None = None) -> AsyncIterator[int]:
    listener = Listener(app or TinyApp(), settings, "public")
    async with RunningServers([listener], drain_seconds=2.0) as servers:
        yield servers.port("public")


@pytest.fixture
async def port(pki: DevPki) -> AsyncIterator[int]:
    async with running(tls_listener(pki)) as bound:
        yield bound


def client(pki: DevPki, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if version is not None:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3 offer TLS 1.0/1.1 at all
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deliberately the deprecated versions
            ctx.minimum_version = ctx.maximum_version = version
    return ctx


def fetch(port: int, ctx: ssl.SSLContext, path: str = "/") -> bytes:
    """One HTTP/1.1 request over TLS with a blocking socket (run in a thread); the raw response."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


async def fetch_async(port: int, ctx: ssl.SSLContext, path: str = "/") -> bytes:
    return await asyncio.to_thread(fetch, port, ctx, path)


async def s_client(port: int, pki: DevPki, *args: str) -> tuple[int, str]:
    assert OPENSSL is not None
    process = await asyncio.create_subprocess_exec(
        OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
        "-CAfile", str(pki.ca_cert), "-verify_return_error", "-msg", *args,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 15)
    return process.returncode or 0, output.decode(errors="replace")


def s_client_supports(flag: str) -> bool:
    if OPENSSL is None:
        return False
    usage = subprocess.run([OPENSSL, "s_client", "-help"], capture_output=True, text=True, check=False)
    return re.search(rf"^\s*{re.escape(flag)}\s", usage.stdout + usage.stderr, re.MULTILINE) is not None


def refused_before_server_hello(rc: int, output: str) -> bool:
    """The client sent its hello and the server never answered with one."""
    return rc != 0 and "ClientHello" in output and "ServerHello" not in output


# -- protocol versions -------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
async def test_python_tls10_and_tls11_clients_are_refused(
    pki: DevPki, port: int, version: ssl.TLSVersion
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await fetch_async(port, client(pki, version))
    # The listener is still fine for a current client.
    assert (await fetch_async(port, client(pki))).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_python_tls12_and_tls13_clients_are_served(
    pki: DevPki, port: int, version: ssl.TLSVersion
) -> None:
    ctx = client(pki)
    ctx.minimum_version = ctx.maximum_version = version
    response = await fetch_async(port, ctx)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"ok"
    headers = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")[1:]]
    assert b"server" not in headers  # names the software to attackers
    assert b"date" not in headers  # the application (or the upstream) supplies exactly one


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
async def test_openssl_legacy_versions_are_refused(pki: DevPki, port: int, flag: str) -> None:
    if not s_client_supports(flag):
        pytest.skip(f"this openssl s_client has no {flag} option")
    rc, output = await s_client(port, pki, flag, "-cipher", "DEFAULT:@SECLEVEL=0")
    version = {"-tls1": "TLS 1.0", "-tls1_1": "TLS 1.1"}[flag]
    assert re.search(rf">>> {version}, Handshake \[length [0-9a-f]+\], ClientHello", output), output
    assert refused_before_server_hello(rc, output), output


@pytest.mark.parametrize(("flag", "version"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
async def test_openssl_current_versions_are_accepted_on_p256(
    pki: DevPki, port: int, flag: str, version: str
) -> None:
    rc, output = await s_client(port, pki, flag)
    assert rc == 0, output
    assert re.search(rf"New, {version}, Cipher is (ECDHE-ECDSA-)?\S*(GCM|CHACHA20)", output), output
    assert "Server Temp Key: ECDH, prime256v1" in output
    assert "Verify return code: 0 (ok)" in output


# -- cipher suites and groups ------------------------------------------------------------------


async def test_a_tls12_client_offering_only_cbc_suites_is_refused(pki: DevPki, port: int) -> None:
    cbc = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA"
    rc, output = await s_client(port, pki, "-tls1_2", "-cipher", cbc)
    assert refused_before_server_hello(rc, output), output
    ctx = client(pki)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cbc)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await fetch_async(port, ctx)


@pytest.mark.parametrize(
    ("flag", "groups"),
    [("-tls1_2", "secp521r1"), ("-tls1_2", "X448"), ("-tls1_3", "secp521r1"), ("-tls1_3", "X448")],
)
async def test_a_client_offering_only_other_groups_is_refused(
    pki: DevPki, port: int, flag: str, groups: str
) -> None:
    # Over TLS 1.2 the P-256 ECDSA certificate alone would already rule these clients out;
    # the unit tests repeat this with an RSA certificate to pin the key-exchange group itself.
    rc, output = await s_client(port, pki, flag, "-groups", groups)
    assert refused_before_server_hello(rc, output), output


async def test_a_tls13_client_preferring_x25519_is_moved_to_p256(pki: DevPki, port: int) -> None:
    rc, output = await s_client(port, pki, "-tls1_3", "-groups", "X25519:prime256v1")
    assert rc == 0, output
    assert "HelloRetryRequest" in output or output.count("ClientHello") == 2
    assert "Server Temp Key: ECDH, prime256v1" in output


# -- client certificates -----------------------------------------------------------------------


async def test_required_client_certificate(pki: DevPki, tmp_path: Path) -> None:
    issued = issue_client_certificate(pki, "lab-client", directory=tmp_path)
    async with running(tls_listener(pki, ClientCertMode.required)) as bound:
        anonymous = b""
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            # TLS 1.3 finishes the client's side of the handshake first; the refusal
            # then arrives on the first read, as an alert or a closed connection.
            anonymous = await fetch_async(bound, client(pki))
        assert not anonymous.startswith(b"HTTP/")
        known = client(pki)
        known.load_cert_chain(issued.cert_file, issued.key_file)
        assert (await fetch_async(bound, known)).startswith(b"HTTP/1.1 200")


async def test_a_certificate_from_another_ca_is_refused(pki: DevPki, tmp_path: Path) -> None:
    stranger = ensure_dev_pki(tmp_path / "other")
    issued = issue_client_certificate(stranger, "intruder")
    async with running(tls_listener(pki, ClientCertMode.required)) as bound:
        ctx = client(pki)
        ctx.load_cert_chain(issued.cert_file, issued.key_file)
        response = b""
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            response = await fetch_async(bound, ctx)
        assert not response.startswith(b"HTTP/")


async def test_optional_client_certificate_admits_anonymous_clients(pki: DevPki) -> None:
    async with running(tls_listener(pki, ClientCertMode.optional)) as bound:
        assert (await fetch_async(bound, client(pki))).startswith(b"HTTP/1.1 200")


# -- start-up ----------------------------------------------------------------------------------


async def test_two_listeners_in_one_loop(pki: DevPki) -> None:
    plain = ListenerSettings(host="127.0.0.1", port=free_port(), plain_http=True)
    listeners = [Listener(TinyApp(), tls_listener(pki), "public"), Listener(TinyApp(), plain, "admin")]
    with capture_logs() as logs:
        async with RunningServers(listeners, drain_seconds=1.0) as servers:
            assert {b.name: b.scheme for b in servers.bound} == {"public": "https", "admin": "http"}
            assert (await fetch_async(servers.port("public"), client(pki))).startswith(b"HTTP/1.1 200")
            reader, writer = await asyncio.open_connection("127.0.0.1", servers.port("admin"))
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200")
            writer.close()
            await writer.wait_closed()
    warnings_logged = [e for e in logs if e["event"] == "listener_unencrypted"]
    assert [(e["log_level"], e["listener"]) for e in warnings_logged] == [("warning", "admin")]


async def test_a_busy_port_is_a_config_error_naming_the_listener(pki: DevPki) -> None:
    settings = tls_listener(pki)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.port))
        squatter.listen()
        busy = rf"listeners\.public: cannot listen on 127\.0\.0\.1 port {settings.port}"
        with pytest.raises(ConfigError, match=busy):
            async with running(settings):
                pass


async def test_a_bad_key_stops_start_up_before_anything_listens(pki: DevPki, tmp_path: Path) -> None:
    other = ensure_dev_pki(tmp_path / "other")
    good = tls_listener(pki)
    assert good.tls is not None
    bad_tls = good.tls.model_copy(update={"key_file": other.server_key})
    bad = ListenerSettings(host="127.0.0.1", port=free_port(), tls=bad_tls)
    listeners = [Listener(TinyApp(), good, "public"), Listener(TinyApp(), bad, "admin")]
    with pytest.raises(ConfigError, match=r"listeners\.admin\.tls\.key_file: .* does not match"):
        async with RunningServers(listeners, drain_seconds=1.0):
            pass
    with socket.socket() as probe:  # the good listener's port was never taken
        probe.bind(("127.0.0.1", good.port))


async def test_an_application_that_fails_to_start_stops_every_listener(pki: DevPki) -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    good = tls_listener(pki)
    listeners = [Listener(TinyApp(), good, "public"), Listener(broken, tls_listener(pki), "admin")]
    with pytest.raises(PhigateError, match="Listener admin: the application failed to start"):
        async with RunningServers(listeners, drain_seconds=1.0):
            pass
    assert await refused_soon(good.port), "the healthy listener was left running"


# -- graceful shutdown -------------------------------------------------------------------------


async def test_sigterm_drains_in_flight_requests_and_refuses_new_connections(pki: DevPki) -> None:
    app = TinyApp()
    settings = tls_listener(pki)
    ready = asyncio.Event()
    server = asyncio.create_task(
        serve([Listener(app, settings, "public")], drain_seconds=GATE_TIMEOUT, on_ready=lambda _: ready.set())
    )
    await asyncio.wait_for(ready.wait(), 5)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", settings.port, ssl=client(pki), server_hostname="localhost"
    )
    writer.write(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await asyncio.wait_for(app.entered.wait(), 5)

    os.kill(os.getpid(), signal.SIGTERM)
    assert await refused_soon(settings.port), "the listener kept accepting after SIGTERM"
    assert not server.done()  # still draining the request in flight

    app.gate.set()
    response = await asyncio.wait_for(reader.read(), 5)  # keep-alive is off while draining: read to EOF
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"drained")
    await asyncio.wait_for(server, 5)
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()


async def test_a_request_outliving_the_drain_is_cut_off(pki: DevPki) -> None:
    app = TinyApp()
    settings = tls_listener(pki)
    servers = RunningServers([Listener(app, settings, "public")], drain_seconds=0.5)
    await servers.start()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", settings.port, ssl=client(pki), server_hostname="localhost"
    )
    writer.write(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await asyncio.wait_for(app.entered.wait(), 5)
    servers.stop()
    await asyncio.wait_for(servers.wait(), GATE_TIMEOUT / 2)  # well before the app would give up
    response = b""
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        response = await asyncio.wait_for(reader.read(), 5)
    assert not response.endswith(b"drained")
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()


async def refused_soon(port: int, attempts: int = 100) -> bool:
    for _ in range(attempts):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return True
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await asyncio.sleep(0.05)
    return False


# -- an independent scanner --------------------------------------------------------------------


def ensure_sslyze() -> None:
    """sslyze lives in a venv of its own (it pins its own OpenSSL build), made once and cached."""
    if SSLYZE.exists():
        return
    venv = SSLYZE.parents[1]
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "sslyze==6.3.1"], check=True, timeout=600, capture_output=True)


@pytest.mark.slow
async def test_sslyze_finds_only_the_intermediate_profile(pki: DevPki, port: int, tmp_path: Path) -> None:
    ensure_sslyze()
    report = tmp_path / "sslyze.json"
    process = await asyncio.create_subprocess_exec(
        str(SSLYZE), "--mozilla_config", "intermediate", "--certinfo_ca_file", str(pki.ca_cert),
        "--json_out", str(report), f"127.0.0.1:{port}",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text  # sslyze exits non-zero when the server is not compliant
    assert "OK - Compliant" in text
    scan = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    for legacy in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        assert scan[f"{legacy}_cipher_suites"]["result"]["is_tls_version_supported"] is False
    accepted = [
        suite["cipher_suite"]["name"]
        for version in ("tls_1_2", "tls_1_3")
        for suite in scan[f"{version}_cipher_suites"]["result"]["accepted_cipher_suites"]
    ]
    assert accepted and not [name for name in accepted if "CBC" in name or "_RSA_WITH_" in name]
    assert all(("GCM" in name or "CHACHA20" in name) for name in accepted)
    curves = scan["elliptic_curves"]["result"]
    assert [c["name"] for c in curves["supported_curves"]] == ["secp256r1"]
    assert scan["tls_compression"]["result"]["supports_compression"] is False
    assert scan["session_renegotiation"]["result"]["is_vulnerable_to_client_renegotiation_dos"] is False


RUN_SCRIPT = """
import asyncio
import sys
from pathlib import Path
from phigate.asgi.server import Listener, run
from phigate.settings import ListenerSettings, TlsSettings

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
tls = TlsSettings(cert_file=Path(cert), key_file=Path(key))
settings = ListenerSettings(host="127.0.0.1", port=port, tls=tls)
def ready(bound):
    loop = type(asyncio.get_running_loop())
    print("READY", bound[0].url, loop.__module__, flush=True)

run([Listener(app, settings, "public")], drain_seconds=2, on_ready=ready)
print("STOPPED", flush=True)
"""


async def test_run_serves_on_uvloop_until_sigterm(pki: DevPki) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN_SCRIPT, str(pki.server_cert), str(pki.server_key), str(port),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = b""
        for _ in range(20):  # structured start-up logs come first
            line = await asyncio.wait_for(process.stdout.readline(), 10)
            if line.startswith(b"READY") or not line:
                break
        assert line.decode().split() == ["READY", f"https://127.0.0.1:{port}", "uvloop"]
        assert (await fetch_async(port, client(pki))).endswith(b"\r\n\r\nok")
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 10)
        assert rest.decode().splitlines()[-1] == "STOPPED"
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
