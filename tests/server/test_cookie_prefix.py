"""``--cookie-prefix ""`` in secure mode: generic cookie names everywhere (CK-07).

The app runs in-process over ``https://`` (so httpx sends the ``Secure`` ``__Host-``
cookies back); the subprocess runs are in ``test_e2e_cookie_prefix.py``.
"""

from __future__ import annotations

import re

import httpx
import pytest

from gatepass.server.settings import ServerSettings
from tests.server.conftest import (
    PASSWORD,
    SECURE_BASE_URL,
    assert_error,
    csrf,
    register,
)

pytestmark = pytest.mark.anyio

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ORIGIN = {"Origin": SECURE_BASE_URL}


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(store="memory://", dev=False, login_limit="3/minute", cookie_prefix="")


def set_cookie_names(response: httpx.Response) -> list[str]:
    return [h.partition("=")[0] for h in response.headers.get_list("set-cookie")]


async def test_session_login_sets_generic_names_and_they_authenticate(
    client: httpx.AsyncClient,
) -> None:
    """__Host-session + __Host-csrf, no gp_ cookie; me works; CSRF header still required."""
    await register(client)
    response = await client.post(
        "/auth/session/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert ["__Host-session", "__Host-csrf"] == set_cookie_names(response)
    assert "gp_" not in " ".join(response.headers.get_list("set-cookie"))
    assert "session" == (await client.get("/auth/me")).json()["auth"]["method"]
    assert_error(await client.post("/auth/session/logout", headers=ORIGIN), 403, "csrf_failed")
    token = response.json()["csrf_token"]
    assert client.cookies["__Host-csrf"] == token
    response = await client.post("/auth/session/logout", headers={**ORIGIN, **csrf(token)})
    assert 204 == response.status_code
    assert ["__Host-session", "__Host-csrf"] == set_cookie_names(response)
    assert_error(await client.get("/auth/me"), 401, "invalid_token")


async def test_token_cookies_have_generic_names_and_refresh(client: httpx.AsyncClient) -> None:
    """Token-cookie login sets __Host-access/-refresh/-csrf; the cookie refresh rotates."""
    await register(client)
    response = await client.post(
        "/auth/token/login",
        json={"email": "alice@example.com", "password": PASSWORD, "transport": "cookie"},
    )
    assert ["__Host-access", "__Host-refresh", "__Host-csrf"] == set_cookie_names(response)
    old = client.cookies["__Host-refresh"]
    assert "jwt" == (await client.get("/auth/me")).json()["auth"]["method"]
    assert_error(await client.post("/auth/token/refresh", headers=ORIGIN), 403, "csrf_failed")
    token = response.json()["csrf_token"]
    response = await client.post("/auth/token/refresh", headers={**ORIGIN, **csrf(token)})
    assert 200 == response.status_code, response.text
    assert old != client.cookies["__Host-refresh"]


async def test_pages_use_the_generic_prelogin_and_csrf_names(client: httpx.AsyncClient) -> None:
    """/login sets __Host-prelogin, the form login clears it; /app reads __Host-csrf."""
    await register(client)
    page = await client.get("/login")
    assert ["__Host-prelogin"] == set_cookie_names(page)
    match = _TOKEN.search(page.text)
    assert match is not None
    data = {"email": "alice@example.com", "password": PASSWORD, "csrf_token": match.group(1)}
    response = await client.post("/login", data=data, headers=ORIGIN)
    assert (303, "/account") == (response.status_code, response.headers["location"])
    assert ["__Host-session", "__Host-csrf", "__Host-prelogin"] == set_cookie_names(response)
    assert "__Host-prelogin" not in client.cookies
    assert 200 == (await client.get("/account")).status_code
    app = await client.get("/app")
    assert 'data-csrf-cookie="__Host-csrf"' in app.text


async def test_prelogin_cookie_of_the_default_name_is_not_read(client: httpx.AsyncClient) -> None:
    """The form token binds to __Host-prelogin only: under __Host-gp_prelogin it is 403."""
    await register(client)
    page = await client.get("/login")
    match = _TOKEN.search(page.text)
    assert match is not None
    secret = client.cookies["__Host-prelogin"]
    client.cookies.clear()
    data = {"email": "alice@example.com", "password": PASSWORD, "csrf_token": match.group(1)}
    wrong = {**ORIGIN, "Cookie": f"__Host-gp_prelogin={secret}"}
    response = await client.post("/login", data=data, headers=wrong)
    assert 403 == response.status_code
    assert "__Host-session" not in set_cookie_names(response)
    right = {**ORIGIN, "Cookie": f"__Host-prelogin={secret}"}
    assert 303 == (await client.post("/login", data=data, headers=right)).status_code


async def test_openapi_names_the_generic_cookies(client: httpx.AsyncClient) -> None:
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert ["__Host-session", "__Host-access", "__Host-refresh"] == [
        schemes[s]["name"] for s in ("sessionCookie", "accessCookie", "refreshCookie")
    ]
