"""Fixtures for the auth server: the app in-process (lifespan run) and httpx clients.

``live_app`` builds ``create_app`` with a memory store, dev mode and a FakeClock, runs
its lifespan, and swaps in cheap argon2 parameters (hashing cost is not what these
tests are about). ``client`` talks to it from 10.0.0.1; ``live_app.client(ip)`` makes
a client from another address.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gatepass.passwords import Argon2Hasher
from gatepass.server.app import create_app
from gatepass.server.context import ServerContext
from gatepass.server.settings import ServerSettings
from tests.conftest import FAST_PASSWORDS, FakeClock
from tests.lifespan import lifespan

PASSWORD = "correct horse battery staple"
BASE_URL = "http://127.0.0.1:8000"
SECURE_BASE_URL = "https://127.0.0.1:8000"
ORIGIN = "http://127.0.0.1:8000"


@dataclass
class LiveApp:
    """An app whose lifespan is running, and a factory of clients for it."""

    asgi: Any
    ctx: ServerContext
    base_url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, ip: str = "10.0.0.1") -> httpx.AsyncClient:
        """A new httpx client whose requests come from ``ip``."""
        transport = httpx.ASGITransport(app=self.asgi, client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url=self.base_url)
        self.clients.append(client)
        return client


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(store="memory://", dev=True, login_limit="3/minute")


@contextlib.asynccontextmanager
async def running_app(settings: ServerSettings, clock: FakeClock) -> AsyncIterator[LiveApp]:
    """``create_app(settings)`` with its lifespan running and cheap argon2 parameters."""
    app = create_app(settings, clock=clock)
    async with lifespan(app) as (asgi, state):
        ctx: ServerContext = state["gatepass"]
        ctx.authenticator.hasher = Argon2Hasher(FAST_PASSWORDS)
        base = BASE_URL if settings.dev else SECURE_BASE_URL
        live = LiveApp(asgi, ctx, base)
        try:
            yield live
        finally:
            for c in live.clients:
                await c.aclose()


@pytest.fixture
async def live_app(server_settings: ServerSettings, clock: FakeClock) -> AsyncIterator[LiveApp]:
    async with running_app(server_settings, clock) as live:
        yield live


@pytest.fixture
def client(live_app: LiveApp) -> httpx.AsyncClient:
    return live_app.client()


async def register(
    client: httpx.AsyncClient, email: str = "alice@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    """Register a user through the API; return the response body."""
    response = await client.post("/auth/register", json={"email": email, "password": password})
    assert 201 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


async def session_login(
    client: httpx.AsyncClient, email: str = "alice@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    """Session login through the API (cookies land in the client's jar)."""
    response = await client.post("/auth/session/login", json={"email": email, "password": password})
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


async def token_login(
    client: httpx.AsyncClient,
    email: str = "alice@example.com",
    password: str = PASSWORD,
    transport: str = "bearer",
    **extra: Any,
) -> dict[str, Any]:
    """Token login through the API."""
    response = await client.post(
        "/auth/token/login",
        json={"email": email, "password": password, "transport": transport, **extra},
    )
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


def csrf(token: str) -> dict[str, str]:
    """The CSRF header for cookie-authenticated unsafe requests."""
    return {"X-CSRF-Token": token}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The response is exactly the API's error shape with this status and code."""
    assert status == response.status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert ["detail", "error"] == sorted(body)
    assert code == body["error"]
    assert isinstance(body["detail"], str)
