"""The token column of API.md in-process: login, refresh rotation, reuse, logout, revocation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gatepass._utils import b64url_decode
from tests.conftest import FakeClock
from tests.server.conftest import (
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


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """Decode the header (0) or payload (1) of a compact JWS."""
    decoded: dict[str, Any] = json.loads(b64url_decode(token.split(".")[index]))
    return decoded


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of a response by cookie name."""
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/token/refresh", json={"refresh_token": token})


async def test_bearer_login_shape_and_claims(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Bearer login: API.md's body; the JWT has typ at+jwt and every required claim."""
    user = await register(client)
    response = await client.post(
        "/auth/token/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    assert "set-cookie" not in response.headers
    body = response.json()
    expected_keys = ["access_token", "expires_in", "refresh_expires_in", "refresh_token"]
    assert [*expected_keys, "token_type"] == sorted(body)
    assert ("Bearer", 600, 2592000) == (
        body["token_type"],
        body["expires_in"],
        body["refresh_expires_in"],
    )
    header, claims = jwt_part(body["access_token"], 0), jwt_part(body["access_token"], 1)
    assert ("at+jwt", "EdDSA") == (header["typ"], header["alg"])
    assert {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "scope"} <= set(claims)
    assert (user["id"], "gatepass", "http://127.0.0.1:8000") == (
        claims["sub"],
        claims["aud"],
        claims["iss"],
    )
    assert int(clock.now) + 600 == claims["exp"]
    me = (await client.get("/auth/me", headers=bearer(body["access_token"]))).json()
    assert ("jwt", claims["sid"]) == (me["auth"]["method"], me["auth"]["sid"])
    assert claims["exp"] == me["auth"]["expires_at"]


async def test_scopes_are_granted_and_listed(client: httpx.AsyncClient) -> None:
    """A token login may ask for allowed scopes; /auth/me lists them sorted."""
    await register(client)
    tokens = await token_login(client, scope="write read")
    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert ["read", "write"] == me["auth"]["scopes"]


async def test_refresh_rotates(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Refresh returns new tokens of the same login; the old refresh token is spent."""
    await register(client)
    first = await token_login(client)
    clock.advance(30)
    response = await refresh(client, first["refresh_token"])
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    second = response.json()
    assert sorted(first) == sorted(second)
    assert first["refresh_token"] != second["refresh_token"]
    assert first["access_token"] != second["access_token"]
    assert 2592000 - 30 == second["refresh_expires_in"]
    sid = jwt_part(first["access_token"], 1)["sid"]
    assert sid == jwt_part(second["access_token"], 1)["sid"]
    assert 200 == (await client.get("/auth/me", headers=bearer(second["access_token"]))).status_code


async def test_retry_within_grace_gets_the_same_successor(client: httpx.AsyncClient) -> None:
    """Two tabs refreshing at once get the same successor, not a logout."""
    await register(client)
    first = await token_login(client)
    a = (await refresh(client, first["refresh_token"])).json()
    b = (await refresh(client, first["refresh_token"])).json()
    assert a["refresh_token"] == b["refresh_token"]
    assert 200 == (await refresh(client, a["refresh_token"])).status_code


async def test_reuse_revokes_the_whole_family(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A spent refresh token presented again: 401 refresh_reused; every token of it dies."""
    await register(client)
    first = await token_login(client)
    second = (await refresh(client, first["refresh_token"])).json()
    clock.advance(60)
    response = await refresh(client, first["refresh_token"])
    assert_error(response, 401, "refresh_reused")
    assert 'Bearer error="invalid_token"' == response.headers["www-authenticate"]
    assert_error(await refresh(client, second["refresh_token"]), 401, "token_revoked")
    for token in (first["access_token"], second["access_token"]):
        assert_error(await client.get("/auth/me", headers=bearer(token)), 401, "token_revoked")


async def test_refresh_errors(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """No token is 401 invalid_token; garbage too; an expired family is token_expired."""
    assert_error(await client.post("/auth/token/refresh"), 401, "invalid_token")
    assert_error(await client.post("/auth/token/refresh", json={}), 401, "invalid_token")
    assert_error(await refresh(client, "garbage"), 401, "invalid_token")
    assert_error(await refresh(client, "A" * 22 + "." + "B" * 43), 401, "invalid_token")
    await register(client)
    tokens = await token_login(client)
    clock.advance(2592000 + 1)
    assert_error(await refresh(client, tokens["refresh_token"]), 401, "token_expired")


async def test_access_token_expiry(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """An access token is refused with token_expired once exp (+ leeway) has passed."""
    await register(client)
    tokens = await token_login(client)
    clock.advance(600 + 5 + 1)
    assert_error(
        await client.get("/auth/me", headers=bearer(tokens["access_token"])), 401, "token_expired"
    )


async def test_cookie_transport_login(client: httpx.AsyncClient) -> None:
    """Cookie transport: {user, csrf_token, expires_in} and three cookies, no token in body."""
    user = await register(client)
    response = await client.post(
        "/auth/token/login",
        json={"email": "alice@example.com", "password": PASSWORD, "transport": "cookie"},
    )
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    body = response.json()
    assert ["csrf_token", "expires_in", "user"] == sorted(body)
    assert ({"id": user["id"], "email": "alice@example.com"}, 600) == (
        body["user"],
        body["expires_in"],
    )
    cookies = set_cookies(response)
    assert ["gp_access", "gp_csrf", "gp_refresh"] == sorted(cookies)
    assert cookies["gp_access"].endswith("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax")
    assert cookies["gp_refresh"].endswith("; Path=/; Max-Age=2592000; HttpOnly; SameSite=Strict")
    assert (
        f"gp_csrf={body['csrf_token']}; Path=/; Max-Age=2592000; SameSite=Lax"
        == (cookies["gp_csrf"])
    )
    for name in ("gp_access", "gp_refresh"):
        assert client.cookies[name] not in response.text
    me = (await client.get("/auth/me")).json()
    assert "jwt" == me["auth"]["method"]


async def test_cookie_refresh_needs_csrf(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Cookie refresh without CSRF or from a foreign origin is 403 and spends nothing."""
    await register(client)
    login = await token_login(client, transport="cookie")
    old_refresh = client.cookies["gp_refresh"]
    for headers in (
        {},
        csrf("wrong"),
        {**csrf(login["csrf_token"]), "Origin": "https://x.example"},
    ):
        response = await client.post("/auth/token/refresh", headers=headers)
        assert_error(response, 403, "csrf_failed")
    assert old_refresh == client.cookies["gp_refresh"]
    clock.advance(60)
    response = await client.post("/auth/token/refresh", headers=csrf(login["csrf_token"]))
    assert 200 == response.status_code
    body = response.json()
    assert ["csrf_token", "expires_in", "user"] == sorted(body)
    assert login["csrf_token"] == body["csrf_token"]
    assert ["gp_access", "gp_csrf", "gp_refresh"] == sorted(set_cookies(response))
    assert old_refresh != client.cookies["gp_refresh"]
    assert 200 == (await client.get("/auth/me")).status_code


async def test_token_logout_bearer(client: httpx.AsyncClient) -> None:
    """Bearer token logout: 204; the access token and the refresh token die at once."""
    await register(client)
    tokens = await token_login(client)
    response = await client.post("/auth/token/logout", headers=bearer(tokens["access_token"]))
    assert 204 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    assert_error(
        await client.get("/auth/me", headers=bearer(tokens["access_token"])), 401, "token_revoked"
    )
    assert_error(await refresh(client, tokens["refresh_token"]), 401, "token_revoked")


async def test_token_logout_revokes_every_access_token_of_the_family(
    client: httpx.AsyncClient,
) -> None:
    """Logging out with the newest access token also kills older ones of the same login."""
    await register(client)
    first = await token_login(client)
    second = (await refresh(client, first["refresh_token"])).json()
    await client.post("/auth/token/logout", headers=bearer(second["access_token"]))
    assert_error(
        await client.get("/auth/me", headers=bearer(first["access_token"])), 401, "token_revoked"
    )


async def test_token_logout_cookie_needs_csrf(client: httpx.AsyncClient) -> None:
    """Token-cookie logout without CSRF is 403 (nothing changes); with it 204 + cleared."""
    await register(client)
    login = await token_login(client, transport="cookie")
    assert_error(await client.post("/auth/token/logout"), 403, "csrf_failed")
    assert 200 == (await client.get("/auth/me")).status_code
    response = await client.post("/auth/token/logout", headers=csrf(login["csrf_token"]))
    assert 204 == response.status_code
    cleared = set_cookies(response)
    assert all("Max-Age=0" in cleared[n] for n in ("gp_access", "gp_refresh", "gp_csrf"))
    assert_error(await client.get("/auth/me"), 401, "invalid_token")


async def test_token_logout_with_an_expired_access_token(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With the access token expired, the refresh token (body or cookie + CSRF) logs out."""
    await register(client)
    tokens = await token_login(client)
    clock.advance(700)
    response = await client.post(
        "/auth/token/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )
    assert 204 == response.status_code
    assert_error(await refresh(client, tokens["refresh_token"]), 401, "token_revoked")
    login = await token_login(client, transport="cookie")
    clock.advance(700)
    assert_error(await client.post("/auth/token/logout"), 403, "csrf_failed")
    response = await client.post("/auth/token/logout", headers=csrf(login["csrf_token"]))
    assert 204 == response.status_code
    assert_error(
        await client.post("/auth/token/refresh", headers=csrf(login["csrf_token"])),
        401,
        "invalid_token",
    )


async def test_token_logout_refuses_a_family_id_without_its_secret(
    live_app: LiveApp,
) -> None:
    """The public sid plus a made-up secret logs nobody out (401, the login lives)."""
    victim, attacker = live_app.client(), live_app.client("10.0.0.66")
    await register(victim)
    tokens = await token_login(victim)
    sid = jwt_part(tokens["access_token"], 1)["sid"]
    response = await attacker.post(
        "/auth/token/logout", json={"refresh_token": f"{sid}.{'A' * 43}"}
    )
    assert_error(response, 401, "invalid_token")
    assert 200 == (await refresh(victim, tokens["refresh_token"])).status_code


async def test_token_logout_without_credentials(client: httpx.AsyncClient) -> None:
    """Token logout with nothing is 401 with a plain Bearer challenge."""
    response = await client.post("/auth/token/logout")
    assert_error(response, 401, "invalid_token")
    assert "Bearer" == response.headers["www-authenticate"]


async def test_logout_all_kills_everything(live_app: LiveApp) -> None:
    """Logout-all from one login ends every session and token family of the user."""
    laptop, phone, tablet = live_app.client(), live_app.client("10.0.0.2"), live_app.client()
    await register(laptop)
    await session_login(laptop)
    phone_tokens = await token_login(phone)
    tablet_login = await token_login(tablet, transport="cookie")
    response = await tablet.post("/auth/logout-all", headers=csrf(tablet_login["csrf_token"]))
    assert 204 == response.status_code
    assert_error(await laptop.get("/auth/me"), 401, "invalid_token")
    assert_error(
        await phone.get("/auth/me", headers=bearer(phone_tokens["access_token"])),
        401,
        "token_revoked",
    )
    assert_error(await refresh(phone, phone_tokens["refresh_token"]), 401, "token_revoked")
    assert_error(await tablet.get("/auth/me"), 401, "invalid_token")
    fresh = await token_login(phone)
    sessions = (await phone.get("/auth/sessions", headers=bearer(fresh["access_token"]))).json()
    assert [True] == [s["current"] for s in sessions["sessions"]]


async def test_logout_all_with_cookie_needs_csrf(client: httpx.AsyncClient) -> None:
    """Logout-all with a session cookie and no CSRF token is 403; nothing is revoked."""
    await register(client)
    await session_login(client)
    assert_error(await client.post("/auth/logout-all"), 403, "csrf_failed")
    assert 200 == (await client.get("/auth/me")).status_code
    client.cookies.clear()
    assert_error(await client.post("/auth/logout-all"), 401, "invalid_token")


async def test_delete_session_revokes_that_login(live_app: LiveApp) -> None:
    """DELETE /auth/sessions/{id} ends another login at once (its access token too)."""
    laptop, phone = live_app.client(), live_app.client("10.0.0.2")
    await register(laptop)
    login = await session_login(laptop)
    phone_tokens = await token_login(phone)
    sid = jwt_part(phone_tokens["access_token"], 1)["sid"]
    response = await laptop.delete(f"/auth/sessions/{sid}", headers=csrf(login["csrf_token"]))
    assert 204 == response.status_code
    assert "set-cookie" not in response.headers
    assert_error(
        await phone.get("/auth/me", headers=bearer(phone_tokens["access_token"])),
        401,
        "token_revoked",
    )
    assert 200 == (await laptop.get("/auth/me")).status_code
    ids = [s["id"] for s in (await laptop.get("/auth/sessions")).json()["sessions"]]
    assert [login["session_id"]] == ids


async def test_delete_own_current_session_clears_cookies(client: httpx.AsyncClient) -> None:
    """Deleting the requesting session logs it out and clears its cookies."""
    await register(client)
    login = await session_login(client)
    response = await client.delete(
        f"/auth/sessions/{login['session_id']}", headers=csrf(login["csrf_token"])
    )
    assert 204 == response.status_code
    assert "gp_session" in set_cookies(response)
    assert_error(await client.get("/auth/me"), 401, "invalid_token")


async def test_delete_session_of_another_user_is_404(live_app: LiveApp) -> None:
    """Another user's login id, an unknown id or a revoked one is 404; nothing changes."""
    alice, bob = live_app.client(), live_app.client("10.0.0.2")
    await register(alice)
    await register(bob, "bob@example.com")
    alice_login = await session_login(alice)
    bob_tokens = await token_login(bob, "bob@example.com")
    bob_sid = jwt_part(bob_tokens["access_token"], 1)["sid"]
    for sid in (bob_sid, "unknown", "x" * 200):
        response = await alice.delete(
            f"/auth/sessions/{sid}", headers=csrf(alice_login["csrf_token"])
        )
        assert_error(response, 404, "not_found")
    assert (
        200 == (await bob.get("/auth/me", headers=bearer(bob_tokens["access_token"]))).status_code
    )
    response = await bob.delete(
        f"/auth/sessions/{alice_login['session_id']}", headers=bearer(bob_tokens["access_token"])
    )
    assert_error(response, 404, "not_found")


async def test_delete_session_with_cookie_needs_csrf(live_app: LiveApp) -> None:
    """DELETE with a session cookie and no CSRF token is 403 and revokes nothing."""
    laptop, phone = live_app.client(), live_app.client("10.0.0.2")
    await register(laptop)
    await session_login(laptop)
    phone_tokens = await token_login(phone)
    sid = jwt_part(phone_tokens["access_token"], 1)["sid"]
    assert_error(await laptop.delete(f"/auth/sessions/{sid}"), 403, "csrf_failed")
    assert 200 == (await refresh(phone, phone_tokens["refresh_token"])).status_code
