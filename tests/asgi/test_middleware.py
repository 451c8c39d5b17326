"""AuthMiddleware in a real Starlette app: the request's RequestAuth is made on first use.

The middleware only marks the scope. ``get_request_auth`` makes one RequestAuth per
request, when a route first asks; ``cached_require`` (what the integrations try first)
answers a cache hit without making one, and only what ``require()`` would return.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatepass.asgi.middleware import (
    SCOPE_KEY,
    AuthMiddleware,
    RequestAuth,
    cached_require,
    get_request_auth,
)
from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings
from gatepass.integrations.starlette import exception_handlers, require_principal

pytestmark = pytest.mark.anyio

ORIGIN = "https://app.example"
COOKIES = CookieSettings(secure=False)
Seen = dict[str, Any]


def _app(authenticator: Authenticator | None, seen: Seen) -> Starlette:
    """Routes that record what the scope holds before and after they ask for auth."""

    async def open_route(request: Request) -> Response:
        seen["open"] = request.scope.get(SCOPE_KEY)
        return JSONResponse({})

    async def twice(request: Request) -> Response:
        seen["before"] = request.scope.get(SCOPE_KEY)
        seen["made"] = (get_request_auth(request.scope), get_request_auth(request.scope))
        seen["after"] = request.scope.get(SCOPE_KEY)
        return JSONResponse({})

    async def fast(request: Request) -> Response:
        wanted = request.query_params.get("scopes", "")
        principal = cached_require(request.scope, wanted.split() if wanted else ())
        seen["fast"] = principal
        seen["still"] = request.scope.get(SCOPE_KEY)
        return JSONResponse({"user": principal.user_id if principal else None})

    async def me(request: Request) -> Response:
        principal = await require_principal(request)
        return JSONResponse({"user": principal.user_id})

    middleware = Middleware(
        AuthMiddleware, authenticator=authenticator, allowed_origins=[ORIGIN], cookies=COOKIES
    )
    routes = [
        Route("/open", open_route),
        Route("/twice", twice),
        Route("/fast", fast, methods=["GET", "POST"]),
        Route("/me", me, methods=["GET", "POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[middleware],
        exception_handlers=exception_handlers(),
    )


@contextlib.asynccontextmanager
async def _client(
    app: Starlette, lifespan_state: dict[str, Any] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app``; each request's scope gets a copy of the lifespan state, as
    uvicorn gives it (httpx's transport runs no lifespan)."""

    async def server(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        scope["state"] = dict(lifespan_state or {})
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client


async def _ready(authenticator: Authenticator) -> tuple[str, str]:
    """A Bearer token and an access-token cookie, the feed synced (fast path possible)."""
    user = await authenticator.register("a@example.com", "correct horse battery")
    bearer = (await authenticator.login_tokens(user, scope="read")).access_token
    cookie = (await authenticator.login_tokens(user, transport="cookie")).access_token
    await authenticator.feed.sync_once()
    return bearer, cookie


async def test_an_open_route_makes_no_request_auth(authenticator: Authenticator) -> None:
    seen: Seen = {}
    async with _client(_app(authenticator, seen)) as client:
        assert 200 == (await client.get("/open")).status_code
    assert isinstance(seen["open"], AuthMiddleware)


async def test_get_request_auth_makes_one_per_request(authenticator: Authenticator) -> None:
    seen: Seen = {}
    async with _client(_app(authenticator, seen)) as client:
        assert 200 == (await client.get("/twice")).status_code
        first = seen["after"]
        assert 200 == (await client.get("/twice")).status_code
    assert isinstance(seen["before"], AuthMiddleware)
    made, again = seen["made"]
    assert isinstance(made, RequestAuth)
    assert made is again is seen["after"]
    assert first is not seen["after"]  # a new request, a new one


async def test_cached_require_answers_a_hit_without_making_a_request_auth(
    authenticator: Authenticator,
) -> None:
    """And only what require() returns: no cookie login on POST, none without the scopes."""
    bearer, cookie = await _ready(authenticator)
    seen: Seen = {}
    headers = {"Authorization": f"Bearer {bearer}"}
    cookie_headers = {"Cookie": f"gp_access={cookie}", "Origin": ORIGIN}
    async with _client(_app(authenticator, seen)) as client:
        assert 200 == (await client.get("/me", headers=headers)).status_code  # verifies
        assert 200 == (await client.get("/me", headers=cookie_headers)).status_code
        user = (await client.get("/fast", headers=headers)).json()["user"]
        assert user is not None
        assert isinstance(seen["still"], AuthMiddleware)
        assert user == (await client.get("/me", headers=headers)).json()["user"]
        assert user == (await client.post("/fast", headers=headers)).json()["user"]
        assert user == (await client.get("/fast?scopes=read", headers=headers)).json()["user"]
        assert (await client.get("/fast?scopes=write", headers=headers)).json()["user"] is None
        assert user == (await client.get("/fast", headers=cookie_headers)).json()["user"]
        assert (await client.post("/fast", headers=cookie_headers)).json()["user"] is None
        assert 403 == (await client.post("/me", headers=cookie_headers)).status_code  # no CSRF
        assert (await client.get("/fast")).json()["user"] is None


def test_cached_require_and_get_request_auth_without_the_middleware() -> None:
    assert cached_require({"type": "http", "headers": []}) is None
    with pytest.raises(RuntimeError, match="not installed"):
        get_request_auth({"type": "http", "headers": []})


async def test_the_authenticator_can_come_from_the_lifespan(
    authenticator: Authenticator,
) -> None:
    bearer, _ = await _ready(authenticator)
    seen: Seen = {}
    headers = {"Authorization": f"Bearer {bearer}"}
    async with _client(_app(None, seen), {"gatepass": authenticator}) as client:
        for _ in range(2):  # the slow path, then the fast one
            assert 200 == (await client.get("/me", headers=headers)).status_code
        assert (await client.get("/fast", headers=headers)).json()["user"] is not None


@pytest.mark.parametrize("path", ["/open", "/me"])
async def test_no_authenticator_anywhere_fails_every_request(path: str) -> None:
    """A misconfigured app fails loudly on every route, open ones included."""
    seen: Seen = {}
    async with _client(_app(None, seen)) as client:
        with pytest.raises(RuntimeError, match="needs an Authenticator"):
            await client.get(path)


async def test_require_principal_reads_an_iterator_of_scopes_once(
    authenticator: Authenticator,
) -> None:
    """The fast path and the slow one both read the scopes: an iterator must not run dry
    before the second (that would skip the scope check)."""
    bearer, _ = await _ready(authenticator)  # granted: "read" only
    seen: Seen = {}

    async def guarded(request: Request) -> Response:
        wanted = request.query_params["scopes"].split()
        principal = await require_principal(request, iter(wanted))
        return JSONResponse({"user": principal.user_id})

    app = _app(authenticator, seen)
    app.router.routes.append(Route("/guarded", guarded))
    headers = {"Authorization": f"Bearer {bearer}"}
    async with _client(app) as client:
        for _ in range(2):  # the slow path, then the fast one
            assert 200 == (await client.get("/guarded?scopes=read", headers=headers)).status_code
            response = await client.get("/guarded?scopes=write", headers=headers)
            assert (403, "forbidden") == (response.status_code, response.json()["error"])
