"""Serve several ASGI applications, each on its own listener, in one event loop.

Every listener runs a uvicorn server (httptools parser) whose TLS context is
:func:`phigate.tls.server_context`, not the one uvicorn would build: uvicorn's
options cannot pin the key-exchange group or turn off session tickets. Sockets
are bound here, before any server starts, so a busy port is a start-up error
naming the listener rather than an exit from deep inside uvicorn.

uvicorn's own extras are off: the access log (phigate records each exchange
itself), the ``Server`` header (it names the software to attackers), the
``Date`` header (uvicorn would add a second one next to the upstream's) and its
proxy-header rewriting (the accept stage decides which proxies are trusted).

Shutdown is graceful: the first SIGINT or SIGTERM stops accepting connections,
closes idle keep-alive connections and lets requests in flight finish for up to
``drain_seconds``; what is still running then is cancelled. A second SIGINT
stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import structlog
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from phigate.errors import ConfigError, PhigateError
from phigate.settings import ListenerSettings
from phigate.tls import server_context

log = structlog.get_logger("phigate.server")

BACKLOG = 2048
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Listener:
    """One application on one listener; ``name`` is its key under ``listeners`` (``public``, ``admin``)."""

    app: ASGIApp
    settings: ListenerSettings
    name: str


@dataclass(frozen=True)
class BoundListener:
    """Where a started listener accepts connections."""

    name: str
    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


OnReady = Callable[[Sequence[BoundListener]], Awaitable[None] | None]


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve` and says when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn would install per-server handlers and re-raise the signal on exit;
        # with several servers in one loop, serve() owns the signals for all of them.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class RunningServers:
    """Start listeners, expose where they are bound, stop them gracefully.

    ``async with RunningServers(listeners, drain_seconds=5) as running`` returns
    once every listener accepts connections (or raises, with none left running);
    leaving the block drains and stops them. :func:`serve` adds signal handling.
    """

    def __init__(self, listeners: Sequence[Listener], *, drain_seconds: float) -> None:
        if not listeners:
            raise ConfigError(problems=["listeners: nothing to serve"])
        self._listeners = tuple(listeners)
        self._drain_seconds = drain_seconds
        self._servers: list[_Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.bound: tuple[BoundListener, ...] = ()

    async def __aenter__(self) -> RunningServers:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        await self.wait()

    async def start(self) -> None:
        # Every TLS context is built before any socket is bound: a bad certificate
        # fails start-up with nothing half-open.
        configs = [_config(listener, self._drain_seconds) for listener in self._listeners]
        sockets = _bind_all(self._listeners)
        self._servers = [_Server(config) for config in configs]
        self._tasks = [
            asyncio.create_task(_run(server, socks, listener.name), name=f"listener-{listener.name}")
            for server, socks, listener in zip(self._servers, sockets, self._listeners, strict=True)
        ]
        self.bound = tuple(
            _bound(listener, sock)
            for listener, socks in zip(self._listeners, sockets, strict=True)
            for sock in socks
        )
        await self._until_ready()
        for bound in self.bound:
            log.info("listener_started", listener=bound.name, url=bound.url)

    def stop(self, force: bool = False) -> None:
        """Begin a graceful stop of every listener; ``force`` skips the drain."""
        for server in self._servers:
            server.should_exit = True
            server.force_exit = server.force_exit or force

    async def wait(self) -> None:
        """Return when every listener has stopped; raise the first listener's failure, if any.

        A listener that fails takes the others down with it: half a gateway (say, the
        admin listener without the public one) is worse than a restart.
        """
        if not self._tasks:
            return
        _, running = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        if running:
            self.stop()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def port(self, name: str) -> int:
        return next(b.port for b in self.bound if b.name == name)

    async def _until_ready(self) -> None:
        for server, task in zip(self._servers, self._tasks, strict=True):
            ready = asyncio.create_task(server.ready.wait())
            await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if task.done():
                # One listener could not start: take the others down before reporting it.
                self.stop(force=True)
                await self.wait()
                raise PhigateError("A listener stopped while starting.")


async def serve(
    listeners: Sequence[Listener], *, drain_seconds: float, on_ready: OnReady | None = None
) -> None:
    """Run ``listeners`` until SIGINT or SIGTERM, then drain for up to ``drain_seconds`` and return."""
    async with RunningServers(listeners, drain_seconds=drain_seconds) as running:
        with _stop_on_signals(running):
            if on_ready is not None:
                outcome = on_ready(running.bound)
                if outcome is not None:
                    await outcome
            await running.wait()


def run(listeners: Sequence[Listener], *, drain_seconds: float, on_ready: OnReady | None = None) -> None:
    """Blocking entry point for the CLI: :func:`serve` on a uvloop event loop."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(listeners, drain_seconds=drain_seconds, on_ready=on_ready))


@contextlib.contextmanager
def _stop_on_signals(running: RunningServers) -> Generator[None, None, None]:
    loop = asyncio.get_running_loop()
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        # A second Ctrl-C means "now"; a repeated SIGTERM (orchestrators resend it) does not.
        force = sig is signal.SIGINT and signal.SIGINT in received
        received.append(sig)
        log.info("shutdown_requested", signal=sig.name, drain=not force)
        running.stop(force=force)

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            # Hand the signal back to whoever had it (asyncio.Runner, pytest), not to the default.
            if previous[sig] is not None:
                signal.signal(sig, previous[sig])


class _ListenerProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus two things uvicorn leaves out.

    - The ASGI TLS extension: each request scope gets ``extensions["tls"]`` with
      the peer's certificate (``client_cert_chain``, PEM, as the ASGI spec names
      it), so that tokens can be bound to a client certificate (RFC 8705).
    - A header deadline against slow clients (slowloris): once a request has
      begun (or a connection opened), its headers must be complete within
      ``header_timeout`` seconds or the connection is closed.
    """

    header_timeout: float = 10.0
    _tls: dict[str, Any] | None = None
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
            self._tls = {"client_cert_chain": chain, "cipher_suite": ssl_object.cipher()[0]}
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        log.info("slow_client_closed", seconds=self.header_timeout)
        self.transport.close()


def _config(listener: Listener, drain_seconds: float) -> uvicorn.Config:
    settings = listener.settings
    header_timeout = settings.header_timeout_seconds
    context: ssl.SSLContext | None = None
    if settings.tls is not None:
        context = server_context(settings.tls, where=f"listeners.{listener.name}.tls")
    else:
        log.warning(
            "listener_unencrypted",
            listener=listener.name,
            host=settings.host,
            port=settings.port,
            detail="plain_http is set: requests and responses cross the network unencrypted",
        )
    return uvicorn.Config(
        listener.app,
        host=settings.host,
        port=settings.port,
        http=type("ListenerProtocol", (_ListenerProtocol,), {"header_timeout": header_timeout}),
        ws="none",
        lifespan="auto",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        backlog=BACKLOG,
        # Annotated int upstream, but only ever handed to asyncio.wait_for, which takes a float.
        timeout_graceful_shutdown=drain_seconds,  # type: ignore[arg-type]
        ssl_context_factory=_fixed(context) if context is not None else None,
    )


def _fixed(context: ssl.SSLContext) -> Callable[[Any, Any], ssl.SSLContext]:
    def factory(_config: Any, _uvicorn_default: Any) -> ssl.SSLContext:
        return context

    return factory


async def _run(server: _Server, sockets: list[socket.socket], name: str) -> None:
    try:
        await server.serve(sockets=sockets)
    except SystemExit:
        # uvicorn exits the process when the application's lifespan start-up fails.
        raise PhigateError(f"Listener {name}: the application failed to start.") from None
    finally:
        for sock in sockets:
            sock.close()


def _bind_all(listeners: Sequence[Listener]) -> list[list[socket.socket]]:
    bound: list[list[socket.socket]] = []
    try:
        for listener in listeners:
            bound.append(_bind(listener))
    except BaseException:
        for sockets in bound:
            for sock in sockets:
                sock.close()
        raise
    return bound


def _bind(listener: Listener) -> list[socket.socket]:
    """Bind every address ``host`` resolves to, as ``loop.create_server`` would."""
    host, port = listener.settings.host, listener.settings.port
    where = f"listeners.{listener.name}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigError(problems=[f"{where}.host: {host!r} does not resolve to an address"]) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        problem = f"{where}: cannot listen on {host} port {port} ({exc.strerror})"
        raise ConfigError(problems=[problem]) from None
    return sockets


def _bound(listener: Listener, sock: socket.socket) -> BoundListener:
    address = sock.getsockname()
    scheme = "http" if listener.settings.tls is None else "https"
    return BoundListener(listener.name, scheme, str(address[0]), int(address[1]))
