"""Run the auth server under uvicorn until SIGINT or SIGTERM.

The listening socket is bound before the app is built, so with ``--port 0`` the
settings (issuer, allowed origins) carry the real port. Once uvicorn has started,
``gatepass listening on http://HOST:PORT`` is printed (and flushed) to stdout.

On SIGINT or SIGTERM uvicorn stops accepting connections, finishes the requests in
flight and runs the lifespan shutdown, which closes the store (so every write that
got a response is committed); :func:`serve` then returns 0.

The server speaks plain http. Outside ``--dev`` its cookies are ``Secure`` and
``__Host-`` prefixed, so browsers only keep them over https: run it behind a TLS
terminating proxy. Client addresses (login throttling, the sessions list) come from
the connection; forwarded headers are ignored (``proxy_headers=False``), so behind a
proxy configure the proxy to connect from distinct addresses or put the real client
address into the ASGI scope yourself.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from types import FrameType

import uvicorn

from gatepass.server.app import create_app
from gatepass.server.settings import ServerSettings
from gatepass.stores import open_stores

__all__ = ["bind_socket", "serve"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free port the OS picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio: TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _run(server: uvicorn.Server, sock: socket.socket, url: str) -> bool:
    """Serve until a signal; print the URL once started. False if startup failed."""

    async def announce() -> None:
        # uvicorn offers no "started" event: poll its flag (a few iterations at startup).
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        print(f"gatepass listening on {url}", flush=True)

    watcher = asyncio.create_task(announce())
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn exits like this when the lifespan startup fails
        return False
    finally:
        watcher.cancel()
    return server.started


def serve(settings: ServerSettings) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a clean stop, 1 if startup failed.

    Raises:
        ConfigurationError: the store URL is malformed or names no available backend.
        OSError: the address cannot be bound.
    """
    open_stores(settings.store, settings.redis)  # fail fast on a bad URL; connects nothing
    sock = bind_socket(settings.host, settings.port)
    port = int(sock.getsockname()[1])
    settings = settings.with_overrides(port=port)
    config = uvicorn.Config(
        app=create_app(settings),
        host=settings.host,
        port=port,
        lifespan="on",
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        # uvicorn captures signals while it serves and re-raises them after its
        # graceful shutdown; this handler then makes the re-raised one a no-op, so the
        # process exits with 0 instead of dying from the default action.
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = asyncio.run(_run(server, sock, _url(settings.host, port)))
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not started:
        print("gatepass serve: the server failed to start (see the log above)", file=sys.stderr)
        return 1
    return 0
