"""The auth server's app factory (API.md): the composition root of gatepass.

``create_app(settings)`` returns a Starlette app; the store is opened, the signing
keys loaded (or created on first start and kept in the store) and the Authenticator
built in the lifespan, so importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware

from gatepass.asgi.middleware import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    attach_request_auth,
)
from gatepass.authenticator import Authenticator
from gatepass.config import MAX_SESSION_CACHE_TTL
from gatepass.integrations.starlette import exception_handlers
from gatepass.keys.persisted import load_keyring
from gatepass.server.context import ServerContext
from gatepass.server.metrics import MetricsMiddleware, ServerMetrics
from gatepass.server.settings import ServerSettings
from gatepass.stores import open_stores
from gatepass.throttle import LoginThrottle
from gatepass.transports.cookie import CookieTransport
from gatepass.transports.csrf import CSRFPolicy
from gatepass.types import Clock

__all__ = ["SESSION_CACHE_TTL", "build_context", "create_app"]

#: Seconds a session read from the store may be served from process memory: the
#: longest allowed. Every change gatepass makes to a session reaches every instance's
#: cache through the revocation feed (logout, logout everywhere, a new id, disabling the
#: user; the deadlines are checked on every request), and the cache is trusted only while
#: the feed is healthy; the TTL bounds what nothing tells the feed (a record edited in
#: the store by hand). Each read is served for 0.9 to 1 times the TTL, at random.
SESSION_CACHE_TTL = float(MAX_SESSION_CACHE_TTL)


async def build_context(settings: ServerSettings, *, clock: Clock = time.time) -> ServerContext:
    """Open the store, load or create the keys, and wire the Authenticator."""
    store = open_stores(settings.store, settings.redis, clock=clock)
    keyring = await load_keyring(store, alg=settings.signing_alg, clock=clock)
    # Session reads go through a local cache that the revocation feed invalidates
    # (trusted only while the feed is healthy): a hit answers a request from process
    # memory, which is cheaper than any store read, SQLite and memory included.
    authenticator = Authenticator(
        store=store,
        keyring=keyring,
        tokens=settings.token_settings,
        sessions=replace(settings.session_settings, cache_ttl=SESSION_CACHE_TTL),
        allowed_scopes=settings.allowed_scopes,
        clock=clock,
    )
    cookies = settings.cookies
    limit, window = settings.login_rate
    account_limit, account_window = settings.account_rate
    return ServerContext(
        settings=settings,
        store=store,
        authenticator=authenticator,
        cookies=cookies,
        cookie_transport=CookieTransport(cookies),
        csrf=CSRFPolicy(settings.effective_origins),
        throttle=LoginThrottle(
            store,
            limit=limit,
            window=window,
            account_limit=account_limit,
            account_window=account_window,
            clock=clock,
        ),
    )


class HSTSMiddleware:
    """Adds ``Strict-Transport-Security`` to every response (secure mode only).

    The server itself speaks http behind the deployer's TLS proxy; browsers only honour
    the header over https, where it pins the origin to TLS (ASVS 5 3.4.1).
    """

    HEADER = (b"strict-transport-security", b"max-age=31536000")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == self.HEADER[0] for name, _ in headers):
                    headers.append(self.HEADER)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_hsts)


class ServerAuthMiddleware:
    """Attaches the request's RequestAuth from the context the lifespan built."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            ctx: ServerContext = scope["state"]["gatepass"]
            attach_request_auth(scope, ctx.authenticator, ctx.cookie_transport, ctx.csrf)
        await self.app(scope, receive, send)


def create_app(settings: ServerSettings | None = None, *, clock: Clock = time.time) -> Starlette:
    """The auth server as a Starlette app implementing API.md."""
    from gatepass.server.routes import all_routes

    settings = settings or ServerSettings()
    metrics = ServerMetrics() if settings.metrics else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, ServerContext]]:
        ctx = await build_context(settings, clock=clock)
        if metrics is not None:
            metrics.ctx = ctx
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ctx.authenticator.run_background)
                yield {"gatepass": ctx}
                tg.cancel_scope.cancel()
        finally:
            await ctx.store.aclose()

    middleware = [Middleware(ServerAuthMiddleware)]
    if not settings.dev:
        middleware.insert(0, Middleware(HSTSMiddleware))
    if metrics is not None:
        middleware.insert(0, Middleware(MetricsMiddleware, metrics=metrics))
    app = Starlette(
        routes=all_routes(),
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.gatepass_metrics = metrics
    return app
