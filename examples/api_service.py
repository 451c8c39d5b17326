"""An API service that trusts only gatepass access tokens: keys from the auth server's
JWKS, revocations from the shared store's feed. Run next to `gatepass serve`:

    GATEPASS_URL=https://auth.example GATEPASS_STORE=redis://127.0.0.1:6379/0 \\
        uvicorn examples.api_service:app --port 9000

A token arrives in one of two ways:

- `Authorization: Bearer` (mobile apps, other services): nothing ambient, no CSRF rule.
- the access-token cookie of the token-cookie transport, sent by a browser page of the
  auth server (the `/app` demo, `gatepass serve --demo-api http://127.0.0.1:9000`).
  Cookies are scoped by host, not port, so the page's cookie reaches this service on
  the same host; in production route the service under the auth server's host (say
  `/api/` on the proxy). A cookie is ambient, so unsafe methods get API.md's CSRF rule:
  an allowed Origin, and `X-CSRF-Token` matching the token's CSRF claim. The cookie's
  name follows `GATEPASS_DEV` and `GATEPASS_COOKIE_PREFIX` (set both as for the server).

CORS admits only the auth server's origin (or `GATEPASS_ALLOWED_ORIGINS`).
"""

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Body, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from gatepass import CookieSettings, CSRFError, GatepassError, Principal, open_store
from gatepass.asgi.errors import error_body, error_headers, error_status
from gatepass.errors import MissingCredential
from gatepass.keys.remote import RemoteJWKS
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.tokens.access import csrf_token_matches
from gatepass.tokens.verifier import TokenVerifier
from gatepass.transports.cookie import parse_cookie_header
from gatepass.transports.csrf import CSRF_HEADER, SAFE_METHODS, CSRFPolicy, origin_of

AUTH_URL = os.environ.get("GATEPASS_URL", "http://127.0.0.1:8000").rstrip("/")
DEV = os.environ.get("GATEPASS_DEV", "").lower() in ("1", "true", "yes", "on")
# As `gatepass serve`: set but empty means no prefix (`__Host-access`).
COOKIES = CookieSettings.with_prefix(
    os.environ.get("GATEPASS_COOKIE_PREFIX", "gp_"), secure=not DEV
)
ACCESS_COOKIE = COOKIES.full_name(COOKIES.access_name)
ORIGINS = [
    origin
    for raw in os.environ.get("GATEPASS_ALLOWED_ORIGINS", AUTH_URL).replace(",", " ").split()
    if (origin := origin_of(raw)) is not None
]
MAX_ORDERS = 100


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = open_store(os.environ.get("GATEPASS_STORE", "sqlite:///gatepass.db"))
    feed = RevocationFeed(store, RevocationSet())
    app.state.verifier = TokenVerifier(
        RemoteJWKS(f"{AUTH_URL}/.well-known/jwks.json"),
        issuer=os.environ.get("GATEPASS_ISSUER", AUTH_URL),
        audience=os.environ.get("GATEPASS_AUDIENCE", "gatepass"),
        revoker=Revoker(store, feed=feed),
        leeway=int(os.environ.get("GATEPASS_LEEWAY", "5")),
    )
    app.state.orders = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)  # revocations reach this service within milliseconds
        yield
        tg.cancel_scope.cancel()
    await store.aclose()


app = FastAPI(lifespan=lifespan)
app.add_middleware(
    CORSMiddleware,
    allow_origins=ORIGINS,
    allow_credentials=True,
    allow_methods=["GET", "POST"],
    allow_headers=["Authorization", "Content-Type", CSRF_HEADER],
    max_age=600,
)
csrf_policy = CSRFPolicy(ORIGINS)


@app.exception_handler(GatepassError)
async def gatepass_error(request: Request, exc: GatepassError) -> Response:
    """gatepass's own error mapping: 401 with a challenge, 403 CSRF, 503 store down."""
    return Response(
        error_body(exc),
        error_status(exc),
        dict(error_headers(exc)),
        media_type="application/json",
    )


async def principal(request: Request) -> Principal:
    """The verified, unrevoked principal of a Bearer header or the access cookie."""
    verifier: TokenVerifier = request.app.state.verifier
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return await verifier.verify(token.strip(), source="bearer")
    cookie = parse_cookie_header(request.headers.get("cookie")).get(ACCESS_COOKIE)
    if cookie is None:
        raise MissingCredential("no access token")
    user = await verifier.verify(cookie, source="cookie")
    if request.method not in SAFE_METHODS:
        csrf_policy.check_origin(request.method, request.headers)
        if not csrf_token_matches(user, request.headers.get(CSRF_HEADER)):
            raise CSRFError("missing or wrong CSRF token", reason="token")
    return user


User = Annotated[Principal, Depends(principal)]


def _listing(request: Request, user: Principal) -> dict[str, object]:
    orders = request.app.state.orders.get(user.user_id, [])
    return {"user": user.user_id, "sid": user.sid, "orders": orders}


@app.get("/orders")
async def list_orders(request: Request, user: User) -> dict[str, object]:
    return _listing(request, user)


@app.post("/orders", status_code=201)
async def add_order(
    request: Request, user: User, item: Annotated[str, Body(embed=True, max_length=200)]
) -> dict[str, object]:
    orders = request.app.state.orders.setdefault(user.user_id, [])
    next_id = orders[-1]["id"] + 1 if orders else 1
    orders[:] = [*orders, {"id": next_id, "item": item}][-MAX_ORDERS:]
    return _listing(request, user)
