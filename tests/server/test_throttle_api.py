"""Login throttling over HTTP (API.md "Login throttling"), with a limit of 3/minute.

The account-wide cap (``GATEPASS_ACCOUNT_LIMIT``) is tested with 5/hour on apps built
here, alone and as two instances sharing one store (a SQLite file; SQLite + Redis).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gatepass.server.settings import ServerSettings
from tests.conftest import FakeClock
from tests.contracts.redis_env import delete_prefix, require_redis, unique_prefix
from tests.server.conftest import (
    PASSWORD,
    LiveApp,
    assert_error,
    register,
    running_app,
    session_login,
)

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


# -- the account-wide cap (AA-02) ----------------------------------------------------------


@contextlib.asynccontextmanager
async def capped_app(
    clock: FakeClock, store: str, redis: str | None = None
) -> AsyncIterator[LiveApp]:
    """The real app with an account cap of 5/hour (login limit 3/minute), lifespan running."""
    settings = ServerSettings(
        store=store, redis=redis, dev=True, login_limit="3/minute", account_limit="5/hour"
    )
    async with running_app(settings, clock) as live:
        yield live


def bots(n: int) -> list[str]:
    return [f"198.51.100.{i}" for i in range(1, n + 1)]


@pytest.mark.parametrize("path", ["/auth/session/login", "/auth/token/login"])
async def test_account_cap_stops_distributed_guessing(clock: FakeClock, path: str) -> None:
    """5 addresses fail once each; then a 6th fresh address is refused even with the right
    password (429 + Retry-After until the first failure leaves the hour), while the real
    user's known address signs in; after the hour the fresh address signs in too."""
    async with capped_app(clock, "memory://") as app:
        home = app.client("203.0.113.7")
        await register(home)
        await session_login(home)  # the user's address, now trusted for the account
        start = clock.now
        for ip in bots(5):
            assert_error(
                await attempt(app.client(ip), "wrong password", path), 401, "invalid_credentials"
            )
            clock.advance(60)  # one a minute: the 3/minute rules never trigger
        fresh = app.client("192.0.2.66")
        refused = await attempt(fresh, PASSWORD, path)
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) == round(start + 3600 - clock.now)
        assert "set-cookie" not in refused.headers
        assert 200 == (await attempt(home, PASSWORD, path)).status_code  # never locked out
        other = await fresh.post(
            "/auth/register", json={"email": "bob@example.com", "password": PASSWORD}
        )
        assert 201 == other.status_code
        bob = await fresh.post(path, json={"email": "bob@example.com", "password": PASSWORD})
        assert 200 == bob.status_code  # the cap is the account's, not the address's
        assert 429 == (await attempt(fresh, PASSWORD, path)).status_code  # success refilled nothing
        clock.advance(int(refused.headers["retry-after"]))
        assert 200 == (await attempt(fresh, PASSWORD, path)).status_code  # not forever
        events = await app.ctx.store.list_audit(limit=100)
        throttled = [e for e in events if e.action == "login" and e.detail == "rate_limited"]
        assert 2 == len(throttled)
        assert {"192.0.2.66"} == {e.ip for e in throttled}


async def shared_cap(clock: FakeClock, store: str, redis: str | None) -> None:
    """Two instances on one store: failures on either count toward one cap, and the trust
    a login earned on one is honoured by the other."""
    async with capped_app(clock, store, redis) as one, capped_app(clock, store, redis) as two:
        home = one.client("203.0.113.7")
        await register(home)
        await session_login(home)
        for n, ip in enumerate(bots(5)):
            app = one if n % 2 else two
            assert_error(
                await attempt(app.client(ip), "wrong", "/auth/session/login"),
                401,
                "invalid_credentials",
            )
        for app in (one, two):
            refused = await attempt(app.client("192.0.2.66"), PASSWORD, "/auth/session/login")
            assert_error(refused, 429, "rate_limited")
        assert (
            200
            == (
                await attempt(two.client("203.0.113.7"), PASSWORD, "/auth/session/login")
            ).status_code
        )


async def test_account_cap_is_shared_by_instances_on_one_sqlite_file(
    clock: FakeClock, tmp_path: Path
) -> None:
    await shared_cap(clock, f"sqlite:///{tmp_path / 'shared.db'}", None)


async def test_account_cap_is_shared_by_instances_on_one_redis(
    clock: FakeClock, tmp_path: Path
) -> None:
    """Counters in Redis (``--redis``), users in a shared SQLite file."""
    url, prefix = require_redis(), unique_prefix()
    try:
        redis = f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
        await shared_cap(clock, f"sqlite:///{tmp_path / 'shared.db'}", redis)
    finally:
        delete_prefix(url, prefix)


async def test_each_instance_alone_would_not_reach_the_cap(
    clock: FakeClock, tmp_path: Path
) -> None:
    """Positive control for the shared tests: on separate stores, 3 + 2 failures stay under
    the cap of each instance, so a fresh address is let through on both."""
    async with (
        capped_app(clock, f"sqlite:///{tmp_path / 'a.db'}") as one,
        capped_app(clock, f"sqlite:///{tmp_path / 'b.db'}") as two,
    ):
        for app in (one, two):
            await register(app.client())
        for n, ip in enumerate(bots(5)):
            app = one if n % 2 else two
            await attempt(app.client(ip), "wrong", "/auth/session/login")
        for app in (one, two):
            ok = await attempt(app.client("192.0.2.66"), PASSWORD, "/auth/session/login")
            assert 200 == ok.status_code
