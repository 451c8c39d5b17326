"""RemoteJWKS + TokenVerifier: another service verifies gatepass tokens by its JWKS URL."""

from __future__ import annotations

import runpy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gatepass.errors import StoreUnavailable, TokenRevoked, UnknownKey
from gatepass.keys.persisted import rotate_key
from gatepass.keys.remote import RemoteJWKS
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.server.app import create_app
from gatepass.server.context import ServerContext
from gatepass.server.settings import ServerSettings
from gatepass.tokens.verifier import TokenVerifier
from tests.conftest import FAST_PASSWORDS
from tests.lifespan import lifespan

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8000"
JWKS_URL = f"{BASE}/.well-known/jwks.json"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "api_service.py"


@pytest.fixture
async def auth_server(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ServerContext]]:
    """The auth server in-process, reached over httpx (real HTTP semantics, no socket)."""
    from gatepass.passwords import Argon2Hasher

    settings = ServerSettings(store=f"sqlite:///{tmp_path}/gp.db", dev=True)
    async with lifespan(create_app(settings)) as (app, state):
        ctx: ServerContext = state["gatepass"]
        ctx.authenticator.hasher = Argon2Hasher(FAST_PASSWORDS)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client, ctx


async def login(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {"email": "ada@example.com", "password": "analytical engine 1843"}
    await client.post("/auth/register", json=body)
    response = await client.post("/auth/token/login", json=body)
    assert 200 == response.status_code
    data: dict[str, Any] = response.json()
    return data


def verifier_for(
    client: httpx.AsyncClient, ctx: ServerContext, revoker: Revoker | None = None
) -> TokenVerifier:
    return TokenVerifier(
        RemoteJWKS(JWKS_URL, client=client, min_interval=60),
        issuer=ctx.settings.effective_issuer,
        audience="gatepass",
        revoker=revoker,
    )


async def test_verifies_with_the_published_keys(
    auth_server: tuple[httpx.AsyncClient, ServerContext],
) -> None:
    """A token from the auth server verifies with only its JWKS URL."""
    client, ctx = auth_server
    pair = await login(client)
    verifier = verifier_for(client, ctx)
    principal = await verifier.verify(pair["access_token"])
    assert ("jwt", 1) == (principal.method, verifier.jwks.fetches)
    await verifier.verify(pair["access_token"])
    assert 1 == verifier.jwks.fetches  # cached set, no second fetch


async def test_key_rotation_is_picked_up_once_single_flight(
    auth_server: tuple[httpx.AsyncClient, ServerContext],
) -> None:
    """After a rotation, 20 concurrent verifies of a new-kid token cause one refetch."""
    client, ctx = auth_server
    verifier = verifier_for(client, ctx)
    await verifier.verify((await login(client))["access_token"])
    new_key = await rotate_key(ctx.store, alg="EdDSA")
    ctx.authenticator.keyring.rotate(new_key)
    token = (
        await client.post(
            "/auth/token/login",
            json={"email": "ada@example.com", "password": "analytical engine 1843"},
        )
    ).json()["access_token"]
    verifier.jwks.min_interval = 0
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(verifier.verify, token)
    assert 2 == verifier.jwks.fetches


async def test_unknown_kid_refetch_is_rate_limited(
    auth_server: tuple[httpx.AsyncClient, ServerContext],
) -> None:
    """Tokens with made-up kids cannot make the verifier hammer the JWKS URL."""
    client, ctx = auth_server
    verifier = verifier_for(client, ctx)
    good = (await login(client))["access_token"]
    await verifier.verify(good)
    forged = "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA"
    for _ in range(5):
        with pytest.raises(UnknownKey):
            await verifier.verify(forged)
    assert 1 == verifier.jwks.fetches


async def test_revocation_reaches_the_service_through_the_feed(
    auth_server: tuple[httpx.AsyncClient, ServerContext],
) -> None:
    """A logout on the auth server is refused by the service (shared store's feed)."""
    client, ctx = auth_server
    feed = RevocationFeed(ctx.store, RevocationSet(), max_wait=0.05, staleness=1)
    verifier = verifier_for(client, ctx, Revoker(ctx.store, feed=feed))
    pair = await login(client)
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)
        await verifier.verify(pair["access_token"])
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        assert 204 == (await client.post("/auth/token/logout", headers=bearer)).status_code
        with anyio.fail_after(3):
            while True:
                try:
                    await verifier.verify(pair["access_token"])
                except TokenRevoked:
                    break
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()


async def test_unreachable_jwks_fails_closed() -> None:
    """With no set cached and the URL unreachable, verification raises StoreUnavailable."""
    jwks = RemoteJWKS("http://127.0.0.1:9/.well-known/jwks.json", timeout=0.5)
    with pytest.raises(StoreUnavailable):
        await jwks.keyring()


async def test_example_api_service(
    auth_server: tuple[httpx.AsyncClient, ServerContext],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """examples/api_service.py accepts a gatepass token and refuses it after logout."""
    client, ctx = auth_server
    store_url = ctx.settings.store
    monkeypatch.setenv("GATEPASS_STORE", store_url)
    monkeypatch.setenv("GATEPASS_ISSUER", ctx.settings.effective_issuer)
    namespace: dict[str, Any] = runpy.run_path(str(EXAMPLE))
    pair = await login(client)
    async with lifespan(namespace["app"]) as (app, _):
        service = namespace["app"].state.verifier
        service.jwks._client = client  # fetch the JWKS from the in-process auth server
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            bearer = {"Authorization": f"Bearer {pair['access_token']}"}
            assert 200 == (await api.get("/orders", headers=bearer)).status_code
            assert 401 == (await api.get("/orders")).status_code
            await client.post("/auth/token/logout", headers=bearer)
            with anyio.fail_after(3):
                while (await api.get("/orders", headers=bearer)).status_code != 401:
                    await anyio.sleep(0.01)


@pytest.mark.parametrize(
    ("env", "name", "ignored"),
    [
        ({"GATEPASS_DEV": "1", "GATEPASS_COOKIE_PREFIX": ""}, "access", "gp_access"),
        ({"GATEPASS_DEV": "1", "GATEPASS_COOKIE_PREFIX": "sso_"}, "sso_access", "gp_access"),
        ({"GATEPASS_DEV": "1"}, "gp_access", "access"),
        ({"GATEPASS_COOKIE_PREFIX": ""}, "__Host-access", "__Host-gp_access"),
    ],
)
async def test_example_api_service_follows_the_cookie_prefix(
    auth_server: tuple[httpx.AsyncClient, ServerContext],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    name: str,
    ignored: str,
) -> None:
    """The example reads the access cookie named by GATEPASS_COOKIE_PREFIX and GATEPASS_DEV."""
    client, ctx = auth_server
    monkeypatch.setenv("GATEPASS_STORE", ctx.settings.store)
    monkeypatch.setenv("GATEPASS_ISSUER", ctx.settings.effective_issuer)
    monkeypatch.delenv("GATEPASS_DEV", raising=False)
    monkeypatch.delenv("GATEPASS_COOKIE_PREFIX", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    namespace: dict[str, Any] = runpy.run_path(str(EXAMPLE))
    assert name == namespace["ACCESS_COOKIE"]
    token = (await login(client))["access_token"]
    async with lifespan(namespace["app"]) as (app, _):
        namespace["app"].state.verifier.jwks._client = client
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            assert (
                200 == (await api.get("/orders", headers={"Cookie": f"{name}={token}"})).status_code
            )
            refused = await api.get("/orders", headers={"Cookie": f"{ignored}={token}"})
            assert 401 == refused.status_code
