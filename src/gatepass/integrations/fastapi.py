"""FastAPI helpers: ``Depends`` factories that accept a Bearer token or a cookie.

Usage::

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Authenticator]]:
        store = open_store("sqlite:///app.db")
        keyring = await load_keyring(store, alg="EdDSA")
        yield {"gatepass": Authenticator(store=store, keyring=keyring)}
        await store.aclose()

    app = FastAPI(lifespan=lifespan)
    install(app, allowed_origins=["https://app.example"])

    @app.get("/me")
    async def me(principal: Principal = Depends(current_principal())) -> dict[str, str]:
        return {"user": principal.user_id, "via": principal.method}

Both credentials work on the same route; the OpenAPI document shows both security
schemes (HTTP Bearer and the session cookie).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from gatepass.asgi.middleware import AuthMiddleware, cached_require, get_request_auth
from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings
from gatepass.errors import GatepassError
from gatepass.integrations.starlette import gatepass_error_handler
from gatepass.principal import Principal

__all__ = ["current_principal", "gatepass_error_handler", "install", "optional_principal"]

# Declared for the OpenAPI document only; AuthMiddleware does the real parsing.
_bearer = HTTPBearer(auto_error=False, description="gatepass access token")
_session_cookie = APIKeyCookie(
    name="__Host-gp_session", auto_error=False, description="gatepass session cookie"
)


def install(
    app: FastAPI,
    authenticator: Authenticator | None = None,
    *,
    allowed_origins: Iterable[str],
    cookies: CookieSettings | None = None,
) -> None:
    """Add AuthMiddleware and the error handler to a FastAPI app.

    Pass the Authenticator, or None to have the middleware take it from the lifespan
    state (``yield {"gatepass": authenticator}``).
    """
    app.add_middleware(
        AuthMiddleware,
        authenticator=authenticator,
        cookies=cookies,
        allowed_origins=list(allowed_origins),
    )
    app.add_exception_handler(GatepassError, gatepass_error_handler)


def current_principal(scopes: Iterable[str] = ()) -> Callable[..., Awaitable[Principal]]:
    """A dependency returning the request's Principal (401/403 otherwise).

    Cookie credentials on unsafe methods must carry the CSRF token; ``scopes`` must
    all be granted.
    """
    required = tuple(scopes)

    async def dependency(
        request: Request,
        _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        _cookie_doc: Annotated[str | None, Depends(_session_cookie)],
    ) -> Principal:
        return cached_require(request.scope, required) or await get_request_auth(
            request.scope
        ).require(required)

    return dependency


def optional_principal() -> Callable[..., Awaitable[Principal | None]]:
    """A dependency returning the Principal, or None for anonymous requests."""

    async def dependency(request: Request) -> Principal | None:
        return await get_request_auth(request.scope).optional_principal()

    return dependency
