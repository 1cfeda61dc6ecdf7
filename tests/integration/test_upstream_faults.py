"""UpstreamPool against real servers on 127.0.0.1: streaming, faults, failover, circuit, health, TLS.

Each upstream is started by the test: an aiohttp.web app for a well-behaved FHIR
server, and a raw asyncio server for the misbehaving ones (silent, reset, cut off).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import hashlib
import ipaddress
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from phigate.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from phigate.proxy import BreakerState, HealthState, UpstreamPool, UpstreamRequest
from phigate.settings import UpstreamSettings
from phigate.types import RequestId

BIG = bytes(range(256)) * (32 * 1024)  # 8 MiB
CHUNK = 64 * 1024

# ---------------------------------------------------------------- upstream servers


class FhirUpstream:
    """A well-behaved upstream (aiohttp.web) that records what it was sent."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.health_status = 200
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://127.0.0.1:{self.port}/fhir"

    def requests(self, method: str) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [r for r in self.seen if r[0] == method]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/fhir/metadata":
            return web.Response(status=self.health_status, text="{}")
        body = await request.read()
        self.seen.append((request.method, request.raw_path, dict(request.headers), body))
        if request.path == "/fhir/Binary/big":
            return await self._stream_big(request)
        if request.path == "/fhir/Binary/gz":
            packed = gzip.compress(b'{"resourceType":"Binary"}')
            return web.Response(body=packed, headers={"Content-Encoding": "gzip"})
        status = 201 if request.method == "POST" else 200
        return web.Response(status=status, body=body or b"{}", content_type="application/fhir+json")

    async def _stream_big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(BIG))})
        await response.prepare(request)
        for i in range(0, len(BIG), CHUNK):
            await response.write(BIG[i : i + CHUNK])
        await response.write_eof()
        return response


class RawUpstream:
    """A raw HTTP/1.1 listener whose behaviour the test sets.

    ``mode``: "ok" answers 200; "reset" resets after reading the whole request;
    "silent" reads the request and never answers; "cut" sends headers and part of
    the body, then resets.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
        self.extra_response_headers: list[tuple[str, str]] = []
        self._server: asyncio.Server | None = None
        self._stop = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stop.set()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
        length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
        body = await reader.readexactly(length)
        self.requests.append((method, target, headers, body))  # type: ignore[arg-type]
        if self.mode == "silent":
            await self._stop.wait()
            return False
        if self.mode == "reset":
            _reset(writer)
            return False
        if self.mode == "cut":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 65536)
            await writer.drain()
            _reset(writer)
            return False
        extra = "".join(f"{n}: {v}\r\n" for n, v in self.extra_response_headers)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{extra}\r\nok".encode("latin-1"))
        await writer.drain()
        return True


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/fhir"


@pytest.fixture
async def fhir() -> AsyncIterator[FhirUpstream]:
    server = FhirUpstream()
    await server.start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def raw_upstream(mode: str) -> AsyncIterator[RawUpstream]:
    server = RawUpstream(mode)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ---------------------------------------------------------------- the pool under test


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(*urls: str, **overrides: Any) -> UpstreamSettings:
    raw: dict[str, Any] = {
        "targets": [{"url": u} for u in urls],
        "timeouts": {"connect": 1.0, "read": 0.3, "total": 5.0},
        "health_check": {"path": "/metadata", "interval_seconds": 0.05, "timeout_seconds": 0.5},
        "circuit_breaker": {"failure_threshold": 3, "reset_seconds": 30.0},
    }
    raw.update(overrides)
    return UpstreamSettings.model_validate(raw)


@contextlib.asynccontextmanager
async def running_pool(
    settings: UpstreamSettings, clock: Callable[[], float] | None = None, health_checks: bool = False
) -> AsyncIterator[UpstreamPool]:
    kwargs: dict[str, Any] = {"health_checks": health_checks}
    if clock is not None:
        kwargs["clock"] = clock
    async with UpstreamPool("ehr", settings, **kwargs) as pool:
        yield pool


def get(path: str, query: str = "", headers: tuple[tuple[str, str], ...] = ()) -> UpstreamRequest:
    return UpstreamRequest("GET", path, query, headers, request_id=RequestId("req-1"))


# ---------------------------------------------------------------- normal traffic


async def test_a_multi_megabyte_body_is_streamed_in_chunks(fhir: FhirUpstream) -> None:
    async with running_pool(settings_for(fhir.url)) as pool, await pool.send(get("/Binary/big")) as response:
        digest, chunks, size = hashlib.sha256(), 0, 0
        async for chunk in response.iter_body():
            digest.update(chunk)
            chunks += 1
            size += len(chunk)
    assert response.status == 200
    assert size == len(BIG)
    assert digest.digest() == hashlib.sha256(BIG).digest()
    assert chunks > 1  # delivered as it arrived, not read whole


async def test_a_compressed_body_passes_through_still_compressed(fhir: FhirUpstream) -> None:
    request = get("/Binary/gz", headers=(("Accept-Encoding", "gzip"),))
    async with running_pool(settings_for(fhir.url)) as pool, await pool.send(request) as response:
        body = await response.read(max_bytes=1024)
    assert response.header("content-encoding") == "gzip"
    assert gzip.decompress(body) == b'{"resourceType":"Binary"}'


async def test_post_sends_body_path_and_query_as_given(fhir: FhirUpstream) -> None:
    payload = b'{"resourceType":"Patient","name":[{"family":"Test"}]}'
    request = UpstreamRequest(
        "POST",
        "/Patient",
        "_format=json&name=%C3%A9",
        [("Content-Type", "application/fhir+json"), ("X-Request-Id", "req-2")],
        payload,
    )
    async with running_pool(settings_for(fhir.url)) as pool, await pool.send(request) as response:
        echoed = await response.read(max_bytes=1 << 20)
    assert response.status == 201
    assert echoed == payload
    [(method, raw_path, headers, body)] = fhir.seen
    assert (method, raw_path, body) == ("POST", "/fhir/Patient?_format=json&name=%C3%A9", payload)
    assert headers["Content-Type"] == "application/fhir+json"
    assert headers["Host"] == f"127.0.0.1:{fhir.port}"


async def test_the_client_library_adds_no_headers_of_its_own(fhir: FhirUpstream) -> None:
    async with running_pool(settings_for(fhir.url)) as pool, await pool.send(get("/Patient/1")) as response:
        await response.read(max_bytes=1024)
    headers = {name.lower() for name in fhir.seen[0][2]}
    assert not headers & {"accept-encoding", "user-agent", "accept", "content-type"}


async def test_a_streamed_request_body_is_sent(fhir: FhirUpstream) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"resourceType":', b'"Patient"}'):
            yield part

    request = UpstreamRequest("PUT", "/Patient/7", body=chunks())
    async with running_pool(settings_for(fhir.url)) as pool, await pool.send(request) as response:
        await response.read(max_bytes=1024)
    assert fhir.requests("PUT")[0][3] == b'{"resourceType":"Patient"}'


async def test_read_refuses_a_body_over_the_limit(fhir: FhirUpstream) -> None:
    async with running_pool(settings_for(fhir.url)) as pool:
        response = await pool.send(get("/Binary/big"))
        with pytest.raises(UpstreamError) as caught:
            await response.read(max_bytes=1024)
    assert caught.value.status == 502


async def test_hop_by_hop_headers_are_dropped_both_ways() -> None:
    async with raw_upstream("ok") as upstream:
        upstream.extra_response_headers = [
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "internal"),
            ("Keep-Alive", "timeout=5"),
            ("X-End", "kept"),
        ]
        request = get(
            "/Patient/1",
            headers=(
                ("Connection", "X-Client-Hop"),
                ("X-Client-Hop", "1"),
                ("Proxy-Authorization", "Basic c2VjcmV0"),
                ("TE", "trailers"),
                ("Host", "gateway.example"),
                ("Accept", "application/fhir+json"),
            ),
        )
        async with running_pool(settings_for(upstream.url)) as pool, await pool.send(request) as response:
            assert await response.read(max_bytes=16) == b"ok"
    sent = {n.lower(): v for n, v in upstream.requests[0][2]}
    assert "x-client-hop" not in sent and "proxy-authorization" not in sent and "te" not in sent
    assert sent["host"] == f"127.0.0.1:{upstream.port}"
    assert sent["accept"] == "application/fhir+json"
    received = {n.lower() for n, _ in response.headers}
    assert "x-end" in received
    assert not received & {"connection", "x-hop", "keep-alive"}


# ---------------------------------------------------------------- faults


async def test_a_refused_connection_is_a_502_with_a_safe_message() -> None:
    url = closed_port_url()
    with structlog.testing.capture_logs() as logs:
        async with running_pool(settings_for(url)) as pool:
            with pytest.raises(UpstreamError) as caught:
                await pool.send(get("/Patient/1", "name=Secret"))
    assert type(caught.value) is UpstreamError and caught.value.status == 502
    assert "127.0.0.1" not in str(caught.value)
    [event] = [e for e in logs if e["event"] == "upstream.failed"]
    assert event["fault"] == "unreached" and "refused" in event["reason"].lower()
    assert "Secret" not in repr(logs) and "/Patient" not in repr(logs)


async def test_an_upstream_that_never_answers_is_a_504() -> None:
    async with raw_upstream("silent") as upstream, running_pool(settings_for(upstream.url)) as pool:
        async with asyncio.timeout(3):  # a hang fails the test instead of stalling it
            with pytest.raises(UpstreamTimeout) as caught:
                await pool.send(get("/Patient/1"))
    assert caught.value.status == 504
    assert len(upstream.requests) == 1  # a timeout is not retried


async def test_a_reset_in_the_middle_of_the_body_is_a_502() -> None:
    async with raw_upstream("cut") as upstream, running_pool(settings_for(upstream.url)) as pool:
        response = await pool.send(get("/Binary/1"))
        assert response.status == 200
        with pytest.raises(UpstreamError) as caught:
            async for _ in response.iter_body():
                pass
    assert type(caught.value) is UpstreamError and caught.value.status == 502


async def test_get_fails_over_to_the_second_target(fhir: FhirUpstream) -> None:
    async with running_pool(settings_for(closed_port_url(), fhir.url)) as pool:
        async with await pool.send(get("/Patient/1")) as response:
            await response.read(max_bytes=1024)
        first, _ = pool.health().targets
    assert response.status == 200
    assert response.target == fhir.url
    assert len(fhir.requests("GET")) == 1
    assert first.consecutive_failures == 1


async def test_post_is_not_retried_after_the_upstream_may_have_seen_it(fhir: FhirUpstream) -> None:
    async with raw_upstream("reset") as first, running_pool(settings_for(first.url, fhir.url)) as pool:
        with pytest.raises(UpstreamError) as caught:
            await pool.send(UpstreamRequest("POST", "/Patient", body=b'{"resourceType":"Patient"}'))
    assert caught.value.status == 502
    assert [r[0] for r in first.requests] == ["POST"]
    assert fhir.requests("POST") == []


async def test_put_with_bytes_is_retried_on_the_next_target(fhir: FhirUpstream) -> None:
    async with raw_upstream("reset") as first, running_pool(settings_for(first.url, fhir.url)) as pool:
        request = UpstreamRequest("PUT", "/Patient/7", body=b'{"resourceType":"Patient"}')
        async with await pool.send(request) as response:
            await response.read(max_bytes=1024)
    assert response.status == 200
    assert fhir.requests("PUT")[0][3] == b'{"resourceType":"Patient"}'


async def test_put_with_a_consumed_stream_is_not_retried(fhir: FhirUpstream) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"resourceType":"Patient"}'

    async with raw_upstream("reset") as first, running_pool(settings_for(first.url, fhir.url)) as pool:
        with pytest.raises(UpstreamError) as caught:
            await pool.send(
                UpstreamRequest("PUT", "/Patient/7", headers=[("Content-Length", "26")], body=chunks())
            )
    assert type(caught.value) is UpstreamError
    assert len(first.requests) == 1
    assert fhir.requests("PUT") == []


# ---------------------------------------------------------------- circuit breaker


async def test_the_circuit_opens_after_the_threshold_and_half_opens_later() -> None:
    clock = FakeClock()
    async with raw_upstream("reset") as upstream, running_pool(settings_for(upstream.url), clock) as pool:
        for _ in range(3):
            with pytest.raises(UpstreamError):
                await pool.send(UpstreamRequest("POST", "/Patient", body=b"{}"))
        assert pool.health().targets[0].circuit is BreakerState.open
        attempts = upstream.connections

        with pytest.raises(UpstreamUnavailable) as caught:
            await pool.send(get("/Patient/1"))
        assert caught.value.status == 503
        assert upstream.connections == attempts  # an open circuit does not touch the network

        clock.now += 30.0
        upstream.mode = "ok"
        async with await pool.send(get("/Patient/1")) as response:
            assert await response.read(max_bytes=16) == b"ok"
        assert upstream.connections == attempts + 1
        assert pool.health().targets[0].circuit is BreakerState.closed


async def test_a_failed_trial_opens_the_circuit_again() -> None:
    clock = FakeClock()
    async with raw_upstream("reset") as upstream, running_pool(settings_for(upstream.url), clock) as pool:
        for _ in range(4):
            with contextlib.suppress(UpstreamError):
                await pool.send(UpstreamRequest("POST", "/Patient", body=b"{}"))
        clock.now += 30.0
        with pytest.raises(UpstreamError):
            await pool.send(UpstreamRequest("POST", "/Patient", body=b"{}"))
        assert pool.health().targets[0].circuit is BreakerState.open
        assert len(upstream.requests) == 4


# ---------------------------------------------------------------- health checks


async def test_health_checks_take_a_target_out_and_back_in(fhir: FhirUpstream) -> None:
    standby = FhirUpstream()
    await standby.start()
    try:
        settings = settings_for(fhir.url, standby.url)
        async with running_pool(settings, health_checks=True) as pool:
            fhir.health_status = 503
            await _until(lambda: pool.health().targets[0].health is HealthState.down)
            assert pool.health().ready
            async with await pool.send(get("/Patient/1")) as response:
                await response.read(max_bytes=1024)
            assert (len(fhir.requests("GET")), len(standby.requests("GET"))) == (0, 1)

            fhir.health_status = 200
            await _until(lambda: pool.health().targets[0].health is HealthState.up)
            async with await pool.send(get("/Patient/1")) as response:
                await response.read(max_bytes=1024)
            assert (len(fhir.requests("GET")), len(standby.requests("GET"))) == (1, 1)
    finally:
        await standby.stop()


async def test_health_snapshot_is_not_ready_when_every_target_is_down() -> None:
    async with running_pool(settings_for(closed_port_url())) as pool:
        assert pool.health().ready  # unknown counts as usable until checked
        await pool.check_health()
        [target] = pool.health().targets
    assert target.health is HealthState.down and target.checked_at is not None
    assert not pool.health().ready


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached within 2 seconds")


# ---------------------------------------------------------------- TLS


class Pki:
    """A test CA and certificates it (or nobody) signs, written under ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phigate test CA")])
        self.ca_cert = (
            self._builder(name, name, self.ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = self._write("ca.pem", self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, label: str, san: x509.GeneralName, self_signed: bool = False) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
        issuer = subject if self_signed else self.ca_cert.subject
        signer = key if self_signed else self.ca_key
        cert = (
            self._builder(subject, issuer, key.public_key())
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .sign(signer, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return (
            self._write(f"{label}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            self._write(f"{label}.key", key_pem),
        )

    def server_context(self, label: str, san: x509.GeneralName, **kw: Any) -> ssl.SSLContext:
        cert, key = self.leaf(label, san, **kw)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def _write(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path


LOCALHOST_IP = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


async def test_tls_upstream_signed_by_the_configured_ca_works(pki: Pki) -> None:
    server = FhirUpstream(pki.server_context("ehr", LOCALHOST_IP))
    await server.start()
    try:
        settings = settings_for(server.url, ca_file=pki.ca_file)
        async with running_pool(settings) as pool, await pool.send(get("/Patient/1")) as response:
            await response.read(max_bytes=1024)
    finally:
        await server.stop()
    assert response.status == 200


async def test_upstream_mtls_presents_the_configured_client_certificate(pki: Pki) -> None:
    context = pki.server_context("ehr-mtls", LOCALHOST_IP)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki.ca_file)
    cert, key = pki.leaf("gateway-client", x509.DNSName("gateway.test"))
    server = FhirUpstream(context)
    await server.start()
    try:
        settings = settings_for(server.url, ca_file=pki.ca_file, client_cert_file=cert, client_key_file=key)
        async with running_pool(settings) as pool, await pool.send(get("/Patient/1")) as response:
            await response.read(max_bytes=1024)
    finally:
        await server.stop()
    assert response.status == 200


@pytest.mark.parametrize(
    ("label", "san", "self_signed", "why"),
    [
        ("rogue", LOCALHOST_IP, True, "self-signed"),
        ("other-host", x509.DNSName("other.example"), False, "mismatch"),
    ],
)
async def test_a_certificate_the_ca_file_does_not_vouch_for_is_a_502(
    pki: Pki, label: str, san: x509.GeneralName, self_signed: bool, why: str
) -> None:
    server = FhirUpstream(pki.server_context(label, san, self_signed=self_signed))
    await server.start()
    try:
        with structlog.testing.capture_logs() as logs:
            async with running_pool(settings_for(server.url, ca_file=pki.ca_file)) as pool:
                with pytest.raises(UpstreamError) as caught:
                    await pool.send(get("/Patient/1"))
    finally:
        await server.stop()
    assert type(caught.value) is UpstreamError and caught.value.status == 502
    assert "127.0.0.1" not in str(caught.value) and "certificate" not in str(caught.value)
    assert server.seen == []
    [event] = [e for e in logs if e["event"] == "upstream.failed"]
    assert event["reason"].startswith("certificate rejected") and why in event["reason"].lower()
