"""The session column of API.md in-process: register, login, me, sessions, CSRF, logout."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import FakeClock
from tests.server.conftest import (
    ORIGIN,
    PASSWORD,
    LiveApp,
    assert_error,
    bearer,
    csrf,
    register,
    session_login,
    token_login,
)

pytestmark = pytest.mark.anyio


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of a response by cookie name."""
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


async def test_register_returns_the_new_user(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """201 with id, the normalised email and created_at in Unix seconds; no cookie."""
    response = await client.post(
        "/auth/register", json={"email": "  Alice@Example.COM ", "password": PASSWORD}
    )
    assert 201 == response.status_code
    body = response.json()
    assert ["created_at", "email", "id"] == sorted(body)
    assert "alice@example.com" == body["email"]
    assert int(clock.now) == body["created_at"]
    assert "set-cookie" not in response.headers


async def test_register_twice_is_409(client: httpx.AsyncClient) -> None:
    """A second account with the same email (any case) is 409 email_taken."""
    await register(client)
    response = await client.post(
        "/auth/register", json={"email": "ALICE@example.com", "password": PASSWORD + "!"}
    )
    assert_error(response, 409, "email_taken")


async def test_session_login_shape_and_cookies(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Session login: the body of API.md, and dev-mode session and CSRF cookies."""
    user = await register(client)
    response = await client.post(
        "/auth/session/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    body = response.json()
    assert ["csrf_token", "expires_at", "session_id", "user"] == sorted(body)
    assert {"id": user["id"], "email": "alice@example.com"} == body["user"]
    assert int(clock.now) + 1800 == body["expires_at"]
    cookies = set_cookies(response)
    assert ["gp_csrf", "gp_session"] == sorted(cookies)
    session = cookies["gp_session"]
    assert "; Path=/; HttpOnly; SameSite=Lax" in session
    for absent in ("Max-Age", "Expires", "Domain", "Secure"):
        assert absent not in session
    assert f"gp_csrf={body['csrf_token']}; Path=/; SameSite=Lax" == cookies["gp_csrf"]
    secret = client.cookies["gp_session"]
    assert len(secret) >= 43
    assert secret not in response.text


async def test_sid_is_the_same_everywhere(client: httpx.AsyncClient) -> None:
    """session_id of the login is auth.sid of /auth/me and the id in /auth/sessions."""
    await register(client)
    login = await session_login(client)
    me = (await client.get("/auth/me")).json()
    assert "session" == me["auth"]["method"]
    assert login["session_id"] == me["auth"]["sid"]
    assert [] == me["auth"]["scopes"]
    sessions = (await client.get("/auth/sessions")).json()["sessions"]
    assert [login["session_id"]] == [s["id"] for s in sessions]
    assert sessions[0]["current"] is True


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient,
) -> None:
    """Unknown email and wrong password get the same status, headers and body."""
    await register(client)
    wrong = await client.post(
        "/auth/session/login", json={"email": "alice@example.com", "password": "nope" * 3}
    )
    unknown = await client.post(
        "/auth/session/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert_error(wrong, 401, "invalid_credentials")
    assert (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content)
    assert dict(unknown.headers) == dict(wrong.headers)
    assert "set-cookie" not in wrong.headers


async def test_login_never_reuses_a_presented_session_id(live_app: LiveApp) -> None:
    """Fixation: a session id planted in the victim's browser is ended, never adopted."""
    attacker, victim = live_app.client("10.0.0.66"), live_app.client()
    await register(attacker, "mallory@example.com")
    await session_login(attacker, "mallory@example.com")
    planted = attacker.cookies["gp_session"]
    await register(victim)
    victim.cookies.set("gp_session", planted, domain="127.0.0.1")
    login = await session_login(victim)
    assert planted != victim.cookies["gp_session"]
    assert login["user"]["email"] == (await victim.get("/auth/me")).json()["email"]
    assert_error(await attacker.get("/auth/me"), 401, "invalid_token")


async def test_session_logout_needs_csrf(live_app: LiveApp) -> None:
    """Logout without, with a wrong, or with another login's CSRF token is 403; nothing ends."""
    client, other = live_app.client(), live_app.client("10.0.0.2")
    await register(client)
    await session_login(client)
    other_login = await session_login(other)
    for headers in ({}, csrf("nope"), csrf(other_login["csrf_token"])):
        response = await client.post("/auth/session/logout", headers=headers)
        assert_error(response, 403, "csrf_failed")
    assert 200 == (await client.get("/auth/me")).status_code


async def test_foreign_origin_is_refused(client: httpx.AsyncClient) -> None:
    """The right CSRF token from a foreign Origin (or cross-site fetch) is 403."""
    await register(client)
    login = await session_login(client)
    for extra in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Referer": "https://evil.example/page"},
    ):
        response = await client.post(
            "/auth/session/logout", headers={**csrf(login["csrf_token"]), **extra}
        )
        assert_error(response, 403, "csrf_failed")
    assert 200 == (await client.get("/auth/me")).status_code


async def test_session_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    """Logout with the CSRF token from our origin: 204, cookies cleared, the id is dead."""
    await register(client)
    login = await session_login(client)
    secret = client.cookies["gp_session"]
    response = await client.post(
        "/auth/session/logout", headers={**csrf(login["csrf_token"]), "Origin": ORIGIN}
    )
    assert 204 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    cleared = set_cookies(response)
    assert "Max-Age=0" in cleared["gp_session"]
    assert "Max-Age=0" in cleared["gp_csrf"]
    client.cookies.set("gp_session", secret, domain="127.0.0.1")
    assert_error(await client.get("/auth/me"), 401, "invalid_token")


async def test_session_logout_without_a_session_is_401(client: httpx.AsyncClient) -> None:
    """Session logout with only a Bearer token (no session cookie) is 401."""
    await register(client)
    token = (await token_login(client))["access_token"]
    response = await client.post("/auth/session/logout", headers=bearer(token))
    assert_error(response, 401, "invalid_token")
    assert "Bearer" == response.headers["www-authenticate"]


async def test_idle_timeout(live_app: LiveApp, clock: FakeClock) -> None:
    """A session unused for the idle TTL is 401 session_expired; activity slides it."""
    client = live_app.client()
    await register(client)
    await session_login(client)
    clock.advance(1700)
    assert 200 == (await client.get("/auth/me")).status_code
    clock.advance(1700)
    assert 200 == (await client.get("/auth/me")).status_code
    clock.advance(1801)
    assert_error(await client.get("/auth/me"), 401, "session_expired")
    assert_error(await client.get("/auth/me"), 401, "invalid_token")


async def test_absolute_timeout(live_app: LiveApp, clock: FakeClock) -> None:
    """However active, a session dies at the absolute TTL (43200 s)."""
    client = live_app.client()
    await register(client)
    await session_login(client)
    for _ in range(43):
        clock.advance(1000)
        assert 200 == (await client.get("/auth/me")).status_code
    clock.advance(1000)
    response = await client.get("/auth/me")
    assert_error(response, 401, "session_expired")
    assert 'Bearer error="invalid_token"' == response.headers["www-authenticate"]


async def test_sessions_lists_every_login_with_current(live_app: LiveApp) -> None:
    """/auth/sessions lists sessions and token families with ip, user agent and current."""
    client, phone = live_app.client(), live_app.client("10.0.0.9")
    await register(client)
    login = await session_login(client)
    tokens = await token_login(phone)
    phone_me = (await phone.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    sessions = (await client.get("/auth/sessions")).json()["sessions"]
    by_id = {s["id"]: s for s in sessions}
    assert {login["session_id"], phone_me["auth"]["sid"]} == set(by_id)
    mine = by_id[login["session_id"]]
    assert ("session", "10.0.0.1", True) == (mine["method"], mine["ip"], mine["current"])
    theirs = by_id[phone_me["auth"]["sid"]]
    assert ("jwt", "10.0.0.9", False) == (theirs["method"], theirs["ip"], theirs["current"])
    assert theirs["user_agent"].startswith("python-httpx/")
    fields = ["created_at", "current", "expires_at", "id", "ip", "last_seen_at", "method"]
    assert [*fields, "user_agent"] == sorted(mine)


async def test_exchange_binds_a_jwt_to_the_session(client: httpx.AsyncClient) -> None:
    """Exchange gives a JWT carrying the session's sid; it dies when the session ends."""
    await register(client)
    login = await session_login(client)
    response = await client.post(
        "/auth/token/exchange", json={"scope": "read"}, headers=csrf(login["csrf_token"])
    )
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    body = response.json()
    assert ["access_token", "expires_in", "token_type"] == sorted(body)
    assert ("Bearer", 600) == (body["token_type"], body["expires_in"])
    token = body["access_token"]
    me = await client.get("/auth/me", headers=bearer(token))
    assert ("jwt", login["session_id"], ["read"]) == (
        me.json()["auth"]["method"],
        me.json()["auth"]["sid"],
        me.json()["auth"]["scopes"],
    )
    current = [s for s in (await client.get("/auth/sessions")).json()["sessions"] if s["current"]]
    assert [login["session_id"]] == [s["id"] for s in current]
    await client.post("/auth/session/logout", headers=csrf(login["csrf_token"]))
    assert_error(await client.get("/auth/me", headers=bearer(token)), 401, "token_revoked")


async def test_exchange_needs_a_session_and_csrf(client: httpx.AsyncClient) -> None:
    """Exchange without CSRF is 403; with a Bearer token only it is 401; bad scope 422."""
    await register(client)
    login = await session_login(client)
    assert_error(await client.post("/auth/token/exchange"), 403, "csrf_failed")
    response = await client.post(
        "/auth/token/exchange", json={"scope": "admin"}, headers=csrf(login["csrf_token"])
    )
    assert_error(response, 422, "validation_error")
    token = (await token_login(client))["access_token"]
    client.cookies.clear()
    response = await client.post("/auth/token/exchange", headers=bearer(token))
    assert_error(response, 401, "invalid_token")


async def test_exchange_for_another_audience(client: httpx.AsyncClient) -> None:
    """An exchanged token for another audience is not accepted by this server."""
    await register(client)
    login = await session_login(client)
    response = await client.post(
        "/auth/token/exchange",
        json={"audience": "https://api.example"},
        headers=csrf(login["csrf_token"]),
    )
    token = response.json()["access_token"]
    client.cookies.clear()
    assert_error(await client.get("/auth/me", headers=bearer(token)), 401, "invalid_token")


async def test_me_without_credentials(client: httpx.AsyncClient) -> None:
    """No credential: 401 with a plain Bearer challenge; a bad one: error=invalid_token."""
    response = await client.get("/auth/me")
    assert_error(response, 401, "invalid_token")
    assert "Bearer" == response.headers["www-authenticate"]
    assert "no-store" == response.headers["cache-control"]
    response = await client.get("/auth/me", headers=bearer("not.a.jwt"))
    assert_error(response, 401, "invalid_token")
    assert 'Bearer error="invalid_token"' == response.headers["www-authenticate"]
    client.cookies.set("gp_session", "x" * 43, domain="127.0.0.1")
    assert_error(await client.get("/auth/me"), 401, "invalid_token")


async def test_safe_methods_need_no_csrf(client: httpx.AsyncClient) -> None:
    """GET with a session cookie and a foreign Origin is fine: GET changes nothing."""
    await register(client)
    await session_login(client)
    response = await client.get("/auth/sessions", headers={"Origin": "https://evil.example"})
    assert 200 == response.status_code


async def test_register_and_login_pass_a_password_exactly(client: httpx.AsyncClient) -> None:
    """Leading and trailing spaces in a password are part of it."""
    await register(client, "p@example.com", "  spaced out password  ")
    response = await client.post(
        "/auth/session/login",
        json={"email": "p@example.com", "password": "spaced out password"},
    )
    assert_error(response, 401, "invalid_credentials")
    await session_login(client, "P@Example.com", "  spaced out password  ")
