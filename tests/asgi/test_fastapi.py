"""AuthMiddleware + FastAPI Depends: both credentials on one route, CSRF, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings
from gatepass.integrations.fastapi import current_principal, install, optional_principal
from gatepass.principal import Principal

pytestmark = pytest.mark.anyio

ORIGIN = "https://app.example"
COOKIES = CookieSettings(secure=True)


def make_app(authenticator: Authenticator) -> FastAPI:
    app = FastAPI()
    install(app, authenticator, cookies=COOKIES, allowed_origins=[ORIGIN])

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal())]) -> dict[str, str]:
        return {"user": principal.user_id, "method": principal.method, "sid": principal.sid}

    @app.post("/change")
    async def change(
        principal: Annotated[Principal, Depends(current_principal())],
    ) -> dict[str, str]:
        return {"user": principal.user_id}

    @app.get("/admin")
    async def admin(
        principal: Annotated[Principal, Depends(current_principal(scopes=["write"]))],
    ) -> dict[str, str]:
        return {"user": principal.user_id}

    @app.get("/open")
    async def open_route(
        principal: Annotated[Principal | None, Depends(optional_principal())],
    ) -> dict[str, str | None]:
        return {"user": principal.user_id if principal else None}

    return app


@pytest.fixture
async def client(authenticator: Authenticator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(authenticator))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client


async def test_same_route_accepts_bearer_and_session(
    client: httpx.AsyncClient, authenticator: Authenticator
) -> None:
    """/me answers for a Bearer token and for a session cookie, naming the method."""
    user = await authenticator.register("a@example.com", "correct horse battery")
    pair = await authenticator.login_tokens(user)
    login = await authenticator.login_session(user)
    r1 = await client.get("/me", headers={"Authorization": f"Bearer {pair.access_token}"})
    r2 = await client.get("/me", headers={"Cookie": f"__Host-gp_session={login.session_id}"})
    assert (200, "jwt", pair.sid) == (r1.status_code, r1.json()["method"], r1.json()["sid"])
    assert (200, "session", login.sid) == (r2.status_code, r2.json()["method"], r2.json()["sid"])


async def test_missing_and_bad_credentials(client: httpx.AsyncClient) -> None:
    """No credential: 401 + plain Bearer challenge; a bad token: error="invalid_token"."""
    r = await client.get("/me")
    assert (401, "Bearer") == (r.status_code, r.headers["www-authenticate"])
    assert "invalid_token" == r.json()["error"]
    r = await client.get("/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert (401, 'Bearer error="invalid_token"') == (
        r.status_code,
        r.headers["www-authenticate"],
    )
    assert set(r.json()) == {"error", "detail"}


async def test_cookie_post_requires_csrf(
    client: httpx.AsyncClient, authenticator: Authenticator
) -> None:
    """Cookie credentials on POST need the CSRF token and an allowed Origin."""
    user = await authenticator.register("a@example.com", "correct horse battery")
    login = await authenticator.login_session(user)
    cookie = {"Cookie": f"__Host-gp_session={login.session_id}"}
    r = await client.post("/change", headers=cookie)
    assert (403, "csrf_failed") == (r.status_code, r.json()["error"])
    r = await client.post(
        "/change",
        headers={**cookie, "X-CSRF-Token": login.csrf_token, "Origin": "https://evil.example"},
    )
    assert (403, "csrf_failed") == (r.status_code, r.json()["error"])
    r = await client.post(
        "/change", headers={**cookie, "X-CSRF-Token": login.csrf_token, "Origin": ORIGIN}
    )
    assert 200 == r.status_code


async def test_bearer_post_is_csrf_exempt(
    client: httpx.AsyncClient, authenticator: Authenticator
) -> None:
    """A Bearer request needs no CSRF token."""
    user = await authenticator.register("a@example.com", "correct horse battery")
    pair = await authenticator.login_tokens(user)
    r = await client.post("/change", headers={"Authorization": f"Bearer {pair.access_token}"})
    assert 200 == r.status_code


async def test_scopes(client: httpx.AsyncClient, authenticator: Authenticator) -> None:
    """A missing scope is 403 with an insufficient_scope challenge."""
    user = await authenticator.register("a@example.com", "correct horse battery")
    read_only = await authenticator.login_tokens(user, scope="read")
    writer = await authenticator.login_tokens(user, scope="read write")
    r = await client.get("/admin", headers={"Authorization": f"Bearer {read_only.access_token}"})
    assert 403 == r.status_code
    assert "insufficient_scope" in r.headers["www-authenticate"]
    r = await client.get("/admin", headers={"Authorization": f"Bearer {writer.access_token}"})
    assert 200 == r.status_code


async def test_open_route_ignores_bad_cookies(client: httpx.AsyncClient) -> None:
    """An open route answers even when the request carries a stale session cookie."""
    r = await client.get("/open", headers={"Cookie": "__Host-gp_session=" + "A" * 43})
    assert (200, None) == (r.status_code, r.json()["user"])


async def test_oversized_credential_is_refused(client: httpx.AsyncClient) -> None:
    """An Authorization header over 8 KiB is refused without being parsed."""
    r = await client.get("/me", headers={"Authorization": "Bearer " + "a" * 9000})
    assert 401 == r.status_code


async def test_openapi_lists_both_security_schemes(client: httpx.AsyncClient) -> None:
    """The OpenAPI document advertises Bearer and the session cookie."""
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyCookie"} == set(schemes)
