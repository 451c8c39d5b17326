"""Login throttling over HTTP (API.md "Login throttling"), with a limit of 3/minute."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import FakeClock
from tests.server.conftest import PASSWORD, LiveApp, assert_error, register, session_login

pytestmark = pytest.mark.anyio


async def attempt(client: httpx.AsyncClient, password: str, path: str) -> httpx.Response:
    return await client.post(path, json={"email": "alice@example.com", "password": password})


@pytest.mark.parametrize("path", ["/auth/session/login", "/auth/token/login"])
async def test_lockout_is_per_address_and_temporary(
    live_app: LiveApp, clock: FakeClock, path: str
) -> None:
    """After 3 failures the attacker's address gets 429 even with the right password;
    the user at a fresh address still logs in; after the window the lock is gone."""
    attacker, user = live_app.client("10.6.6.6"), live_app.client("10.0.0.7")
    await register(user)
    for _ in range(3):
        assert_error(await attempt(attacker, "wrong password", path), 401, "invalid_credentials")
    response = await attempt(attacker, PASSWORD, path)
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "set-cookie" not in response.headers
    assert 200 == (await attempt(user, PASSWORD, path)).status_code
    clock.advance(61)
    assert 200 == (await attempt(attacker, PASSWORD, path)).status_code


async def test_spraying_many_accounts_from_one_address(live_app: LiveApp) -> None:
    """Failures over different accounts count against the address: the 4th try is 429."""
    client = live_app.client("10.6.6.6")
    await register(client)
    for n in range(3):
        response = await client.post(
            "/auth/session/login", json={"email": f"u{n}@example.com", "password": PASSWORD}
        )
        assert_error(response, 401, "invalid_credentials")
    response = await attempt(client, PASSWORD, "/auth/session/login")
    assert_error(response, 429, "rate_limited")
    assert "retry-after" in response.headers


async def test_success_clears_the_account_counter(live_app: LiveApp) -> None:
    """Two failures then a success: the user's next mistakes start counting afresh."""
    client = live_app.client()
    await register(client)
    for _ in range(2):
        await attempt(client, "typo password", "/auth/session/login")
    await session_login(client)
    response = await attempt(client, "typo password", "/auth/session/login")
    assert_error(response, 401, "invalid_credentials")


async def test_unknown_emails_are_counted_too(live_app: LiveApp) -> None:
    """Failures for an unknown email are throttled exactly like a wrong password."""
    client = live_app.client("10.6.6.7")
    for _ in range(3):
        response = await client.post(
            "/auth/session/login", json={"email": "ghost@example.com", "password": PASSWORD}
        )
        assert_error(response, 401, "invalid_credentials")
    response = await client.post(
        "/auth/session/login", json={"email": "ghost@example.com", "password": PASSWORD}
    )
    assert_error(response, 429, "rate_limited")


async def test_failed_and_throttled_logins_are_audited(live_app: LiveApp) -> None:
    """Each failed and each throttled login leaves an audit event with the client address."""
    client = live_app.client("10.6.6.8")
    await register(client)
    for _ in range(4):
        await attempt(client, "wrong password", "/auth/session/login")
    events = await live_app.ctx.store.list_audit(limit=100)
    logins = [(e.outcome, e.ip, e.detail) for e in events if e.action == "login"]
    assert 3 == logins.count(("failed", "10.6.6.8", None))
    assert 1 == logins.count(("failed", "10.6.6.8", "rate_limited"))
