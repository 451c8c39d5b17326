"""Secure mode (every mode but --dev): __Host- names, Secure, Path=/, no Domain."""

from __future__ import annotations

import httpx
import pytest

from gatepass.server.settings import ServerSettings
from tests.server.conftest import (
    PASSWORD,
    assert_error,
    csrf,
    register,
    session_login,
    token_login,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(store="memory://", dev=False, login_limit="3/minute")


def cookie_attributes(header: str) -> tuple[str, set[str]]:
    """(name, attribute set) of a Set-Cookie header, attributes lower-cased."""
    first, *attrs = (part.strip() for part in header.split(";"))
    return first.split("=", 1)[0], {a.lower() for a in attrs}


def by_name(response: httpx.Response) -> dict[str, set[str]]:
    return dict(cookie_attributes(h) for h in response.headers.get_list("set-cookie"))


async def test_session_cookies_in_secure_mode(client: httpx.AsyncClient) -> None:
    """Session login sets __Host-gp_session (HttpOnly, Lax) and __Host-gp_csrf (not HttpOnly)."""
    await register(client)
    response = await client.post(
        "/auth/session/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    cookies = by_name(response)
    assert {"__Host-gp_session", "__Host-gp_csrf"} == set(cookies)
    assert {"path=/", "secure", "httponly", "samesite=lax"} == cookies["__Host-gp_session"]
    assert {"path=/", "secure", "samesite=lax"} == cookies["__Host-gp_csrf"]


async def test_token_cookies_in_secure_mode(client: httpx.AsyncClient) -> None:
    """Token-cookie login sets __Host- access (Lax), refresh (Strict) and CSRF cookies."""
    await register(client)
    response = await client.post(
        "/auth/token/login",
        json={"email": "alice@example.com", "password": PASSWORD, "transport": "cookie"},
    )
    cookies = by_name(response)
    assert {"__Host-gp_access", "__Host-gp_refresh", "__Host-gp_csrf"} == set(cookies)
    assert {"path=/", "secure", "httponly", "samesite=lax", "max-age=600"} == cookies[
        "__Host-gp_access"
    ]
    assert {"path=/", "secure", "httponly", "samesite=strict", "max-age=2592000"} == cookies[
        "__Host-gp_refresh"
    ]
    assert {"path=/", "secure", "samesite=lax", "max-age=2592000"} == cookies["__Host-gp_csrf"]
    for attrs in cookies.values():
        assert not any(a.startswith("domain") for a in attrs)


async def test_secure_cookies_round_trip_over_https(client: httpx.AsyncClient) -> None:
    """Over https the __Host- cookies authenticate, and CSRF uses the https origin."""
    await register(client)
    login = await session_login(client)
    assert "session" == (await client.get("/auth/me")).json()["auth"]["method"]
    tokens = await token_login(client, transport="cookie")
    response = await client.post(
        "/auth/token/refresh",
        headers={**csrf(tokens["csrf_token"]), "Origin": "https://127.0.0.1:8000"},
    )
    assert 200 == response.status_code
    response = await client.post(
        "/auth/session/logout",
        headers={**csrf(login["csrf_token"]), "Origin": "http://127.0.0.1:8000"},
    )
    assert_error(response, 403, "csrf_failed")


async def test_dev_names_are_ignored_in_secure_mode(client: httpx.AsyncClient) -> None:
    """A cookie without the __Host- prefix is no credential in secure mode."""
    await register(client)
    await session_login(client)
    secret = client.cookies["__Host-gp_session"]
    client.cookies.clear()
    client.cookies.set("gp_session", secret, domain="127.0.0.1")
    assert_error(await client.get("/auth/me"), 401, "invalid_token")
