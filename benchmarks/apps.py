"""The Starlette app the HTTP and storm benchmarks run under uvicorn (one worker).

``create_app()`` (a uvicorn ``--factory``) reads its configuration from the JSON file
named by ``GATEPASS_BENCH_APP``, written by :mod:`benchmarks.http`. Every endpoint is a
plain Starlette ``Route``, alone in its own Starlette app (same middleware stack, one
route to match) behind an exact-path dispatcher, so routing costs the same for every
endpoint; each answers a short ``text/plain`` body:

- ``/open``: no authentication (the baseline); ``/open/b`` is the same endpoint again
  (the null control of the interleaved runs);
- ``/mw/open``: behind gatepass's ``AuthMiddleware`` but never asks for the principal
  (the middleware's own cost: it parses headers and cookies lazily);
- ``/<store>/me``: an ``/auth/me``-style endpoint, ``require_principal`` behind
  ``AuthMiddleware`` with an ``Authenticator`` over that store (``mem``, ``sqlite``,
  ``redis`` and ``pg``, each with the local session cache as the auth server configures
  it for every store; ``redis-nc`` and ``sqlite-nc`` without it, to show the store read);
  ``/mem/me`` also serves the JWT requests (Bearer, any algorithm, found by ``kid``);
- ``/pyjwt/hs256``, ``/pyjwt/eddsa``: the PyJWT anchor (decode with full validation);
- ``/star/me``: the starsessions anchor (``SessionMiddleware`` + autoload, Redis store);
- ``POST /login``, ``POST /login-all-cores``, ``POST /login-normal-priority``: argon2id
  password check + session login, with the default hasher (at most cores - 1 hashes at
  once, in threads of the lowest CPU priority), one allowed every core, and one hashing
  at normal priority in anyio's worker threads (``background_priority=False``).

With ``"clock": true`` the whole app is wrapped in :class:`benchmarks.clock.ClockedApp`
(the interleaved runs; ``GET /_clock`` answers the CPU time it counted per path).

The lifespan fills the in-memory session store, registers the storm user, syncs every
revocation feed and runs each Authenticator's background jobs (feed, key reload, batched
``last_seen`` writes), as a server would; with ``"background": false`` (the instruction
counts of :mod:`benchmarks.instructions`) it runs none of them and trusts the synced
feeds instead, so that nothing but requests runs while the counters count.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from benchmarks.clock import ClockedApp
from benchmarks.fixtures import session_record
from gatepass.asgi.middleware import AuthMiddleware
from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings, PasswordSettings, SessionSettings, TokenSettings
from gatepass.integrations.starlette import exception_handlers, require_principal
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.stores.base import Store
from gatepass.stores.memory import MemoryStore

__all__ = ["CONFIG_ENV", "COOKIES", "Dispatch", "create_app"]

CONFIG_ENV = "GATEPASS_BENCH_APP"
COOKIES = CookieSettings(secure=False)
_ORIGINS = ["http://127.0.0.1"]
Endpoint = Callable[[Request], Awaitable[Response]]


async def open_endpoint(request: Request) -> Response:
    """The unauthenticated baseline."""
    return PlainTextResponse("ok")


async def me_endpoint(request: Request) -> Response:
    """An ``/auth/me``-style protected endpoint."""
    principal = await require_principal(request)
    return PlainTextResponse(principal.user_id)


def _protected(path: str, authenticator: Authenticator, endpoint: Endpoint = me_endpoint) -> Route:
    middleware = Middleware(
        AuthMiddleware, authenticator=authenticator, allowed_origins=_ORIGINS, cookies=COOKIES
    )
    return Route(path, endpoint, middleware=[middleware])


def _pyjwt_route(path: str, alg: str, jwk: dict[str, str], cfg: dict[str, Any]) -> Route | None:
    try:
        import jwt
    except ImportError:
        return None
    key: Any = jwt.PyJWK(jwk, algorithm=alg).key
    options: Any = {"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]}
    issuer, audience = cfg["issuer"], cfg["audience"]

    async def endpoint(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return PlainTextResponse("missing token", status_code=401)
        try:
            claims = jwt.decode(
                header[7:],
                key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=5,
                options=options,
            )
        except jwt.PyJWTError:
            return PlainTextResponse("invalid token", status_code=401)
        return PlainTextResponse(str(claims["sub"]))

    return Route(path, endpoint)


def _starsessions_route(path: str, cfg: dict[str, Any]) -> Route | None:
    try:
        import redis.asyncio as aioredis
        from starsessions import SessionAutoloadMiddleware, SessionMiddleware
        from starsessions.stores.redis import RedisStore
    except ImportError:
        return None
    connection = aioredis.Redis.from_url(cfg["redis_url"])
    store = RedisStore(connection=connection, prefix=cfg["starsessions_prefix"])

    async def endpoint(request: Request) -> Response:
        user = request.session.get("user")
        if not user:
            return PlainTextResponse("no session", status_code=401)
        return PlainTextResponse(str(user))

    middleware = [
        Middleware(SessionMiddleware, store=store, cookie_https_only=False, lifetime=3600),
        Middleware(SessionAutoloadMiddleware),
    ]
    return Route(path, endpoint, middleware=middleware)


def _login_route(path: str, authenticator: Authenticator) -> Route:
    async def endpoint(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8"))
        user = await authenticator.verify_password(form["email"][0], form["password"][0])
        await authenticator.login_session(user)
        return PlainTextResponse("ok")

    return Route(path, endpoint, methods=["POST"])


def _authenticator(
    store: Store,
    keyring: KeyRing,
    tokens: TokenSettings,
    *,
    cache_ttl: float = 0.0,
    passwords: PasswordSettings | None = None,
) -> Authenticator:
    # What the auth server configures (gatepass.server.app).
    sessions = SessionSettings(
        idle_ttl=1800, absolute_ttl=12 * 3600, touch_interval=60, cache_ttl=cache_ttl
    )
    return Authenticator(
        store=store, keyring=keyring, tokens=tokens, sessions=sessions, passwords=passwords
    )


class Dispatch:
    """Exact-path dispatch to one-route apps; lifespan events go to ``lifespan_app``."""

    def __init__(self, apps: dict[str, Starlette], lifespan_app: Starlette) -> None:
        self.apps = apps
        self.lifespan_app = lifespan_app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan_app(scope, receive, send)
            return
        app = self.apps.get(scope["path"])
        if app is None:
            await PlainTextResponse("not found", status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)


def create_app() -> Dispatch | ClockedApp:
    """Build the benchmark app from the JSON configuration file in ``$GATEPASS_BENCH_APP``."""
    with open(os.environ[CONFIG_ENV], encoding="utf-8") as handle:
        cfg: dict[str, Any] = json.load(handle)
    keys = [SigningKey.from_jwk(jwk) for jwk in cfg["keys"].values()]
    keyring = KeyRing(keys, active=keys[0].kid)
    tokens = TokenSettings(issuer=cfg["issuer"], audience=cfg["audience"], access_ttl=6 * 3600)
    memory = MemoryStore()
    auth_mem = _authenticator(memory, keyring, tokens, cache_ttl=cfg["cache_ttl"])
    authenticators = {"mem": auth_mem}
    stores: list[Store] = [memory]
    routes = [
        Route("/open", open_endpoint),
        Route("/open/b", open_endpoint),
        _protected("/mw/open", auth_mem, open_endpoint),
        _protected("/mem/me", auth_mem),
    ]
    if cfg.get("sqlite_path"):
        from gatepass.stores.sqlite import SQLiteStore

        stores.append(SQLiteStore(cfg["sqlite_path"]))
        authenticators["sqlite"] = _authenticator(
            stores[-1], keyring, tokens, cache_ttl=cfg["cache_ttl"]
        )
        authenticators["sqlite-nc"] = _authenticator(stores[-1], keyring, tokens)
    if cfg.get("redis_prefix"):
        from gatepass.stores.redis import RedisStore

        for name, ttl in (("redis", cfg["cache_ttl"]), ("redis-nc", 0.0)):
            stores.append(RedisStore(cfg["redis_url"], prefix=cfg["redis_prefix"]))
            authenticators[name] = _authenticator(stores[-1], keyring, tokens, cache_ttl=ttl)
    if cfg.get("postgres_url"):
        from gatepass.stores.postgres import PostgresStore

        stores.append(PostgresStore(cfg["postgres_url"], schema=cfg["postgres_schema"]))
        authenticators["pg"] = _authenticator(
            stores[-1], keyring, tokens, cache_ttl=cfg["cache_ttl"]
        )
    routes += [_protected(f"/{name}/me", a) for name, a in authenticators.items() if name != "mem"]
    jwks = cfg["pyjwt_keys"]
    optional = [
        _pyjwt_route("/pyjwt/hs256", "HS256", jwks["HS256"], cfg),
        _pyjwt_route("/pyjwt/eddsa", "EdDSA", jwks["EdDSA"], cfg),
        _starsessions_route("/star/me", cfg) if cfg.get("starsessions_prefix") else None,
    ]
    routes += [route for route in optional if route is not None]
    every_core = _authenticator(
        memory, keyring, tokens, passwords=PasswordSettings(max_concurrency=os.cpu_count() or 1)
    )
    normal_priority = _authenticator(
        memory, keyring, tokens, passwords=PasswordSettings(background_priority=False)
    )
    routes += [
        _login_route("/login", auth_mem),
        _login_route("/login-all-cores", every_core),
        _login_route("/login-normal-priority", normal_priority),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        now = time.time()
        for index in range(cfg["memory_sessions"]):
            await memory.create_session(session_record(index, cfg["memory_salt"], now))
        if cfg.get("storm_user"):
            await auth_mem.register(cfg["storm_user"]["email"], cfg["storm_user"]["password"])
        async with anyio.create_task_group() as group:
            for authenticator in authenticators.values():
                await authenticator.feed.sync_once()
                if cfg.get("background", True):
                    group.start_soon(authenticator.run_background)
                else:  # counted by callgrind: no timers; the synced feed stays trusted
                    authenticator.feed.staleness = 1e9
            yield
            group.cancel_scope.cancel()
        for store in stores:
            with contextlib.suppress(Exception):
                await store.aclose()

    handlers = exception_handlers()
    apps = {route.path: Starlette(routes=[route], exception_handlers=handlers) for route in routes}
    dispatch = Dispatch(apps, Starlette(lifespan=lifespan))
    return ClockedApp(dispatch) if cfg.get("clock") else dispatch
