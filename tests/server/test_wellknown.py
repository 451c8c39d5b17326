"""Open routes: JWKS, health check, OpenAPI document, metrics."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gatepass._utils import b64url_decode
from gatepass.server.settings import ServerSettings
from tests.server.conftest import (
    PASSWORD,
    LiveApp,
    assert_error,
    register,
    session_login,
    token_login,
)

pytestmark = pytest.mark.anyio

#: Every JSON endpoint of API.md: path -> methods.
API_ENDPOINTS = {
    "/auth/register": {"post"},
    "/auth/session/login": {"post"},
    "/auth/session/logout": {"post"},
    "/auth/token/login": {"post"},
    "/auth/token/refresh": {"post"},
    "/auth/token/logout": {"post"},
    "/auth/logout-all": {"post"},
    "/auth/password": {"post"},  # API addition (docs/api.md)
    "/auth/me": {"get"},
    "/auth/sessions": {"get"},
    "/auth/sessions/{id}": {"delete"},
    "/auth/token/exchange": {"post"},
    "/.well-known/jwks.json": {"get"},
    "/healthz": {"get"},
    "/openapi.json": {"get"},
}


async def test_jwks_publishes_the_signing_key(client: httpx.AsyncClient) -> None:
    """The JWK Set holds the public key whose kid signs tokens, and no private member."""
    await register(client)
    token = (await token_login(client))["access_token"]
    response = await client.get("/.well-known/jwks.json")
    assert 200 == response.status_code
    assert "public, max-age=300" == response.headers["cache-control"]
    keys = response.json()["keys"]
    assert 1 == len(keys)
    (key,) = keys
    assert ("EdDSA", "sig", "OKP") == (key["alg"], key["use"], key["kty"])
    assert not {"d", "p", "q", "k"} & set(key)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert key["kid"] == header["kid"]


async def test_healthz(live_app: LiveApp) -> None:
    """200 ok while the store answers; 503 store down once it does not."""
    client = live_app.client()
    response = await client.get("/healthz")
    body = response.json()
    assert (200, "ok", "ok") == (response.status_code, body["status"], body["store"])
    assert body["feed"] in ("ok", "stale")
    assert isinstance(body["feed_lag"], float | int)
    await live_app.ctx.store.aclose()
    response = await client.get("/healthz")
    body = response.json()
    assert (503, "error", "down") == (response.status_code, body["status"], body["store"])


async def test_healthz_reports_the_feed(live_app: LiveApp) -> None:
    """Once the lifespan's feed has run a round, healthz says feed ok with a small lag."""
    await live_app.ctx.authenticator.feed.sync_once()
    body = (await live_app.client().get("/healthz")).json()
    assert "ok" == body["feed"]
    assert body["feed_lag"] < 60


async def test_store_down_fails_closed(live_app: LiveApp) -> None:
    """With the store down, a login is 503 store_unavailable, never let through."""
    client = live_app.client()
    await register(client)
    await session_login(client)
    await live_app.ctx.store.aclose()
    assert_error(await client.get("/auth/me"), 503, "store_unavailable")
    response = await client.post(
        "/auth/register", json={"email": "bob@example.com", "password": "a fine password"}
    )
    assert_error(response, 503, "store_unavailable")


def refs(node: Any) -> list[str]:
    """Every $ref in a JSON document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


async def test_openapi_documents_every_endpoint(client: httpx.AsyncClient) -> None:
    """OpenAPI 3.1 with every JSON endpoint and method, resolvable refs, shared Error schema."""
    response = await client.get("/openapi.json")
    assert 200 == response.status_code
    doc = response.json()
    assert "3.1.0" == doc["openapi"]
    paths = doc["paths"]
    assert API_ENDPOINTS == {p: {m for m in ops if m != "parameters"} for p, ops in paths.items()}
    components = doc["components"]
    for ref in refs(doc):
        _, section, name = ref.rsplit("/", 2)
        assert name in components[section], ref
    for name, response_doc in components["responses"].items():
        schema = response_doc["content"]["application/json"]["schema"]
        assert {"$ref": "#/components/schemas/Error"} == schema, name
    assert {"bearer", "sessionCookie", "accessCookie", "refreshCookie", "csrfHeader"} == set(
        components["securitySchemes"]
    )
    assert "gp_session" == components["securitySchemes"]["sessionCookie"]["name"]
    login = paths["/auth/session/login"]["post"]
    assert {"200", "401", "413", "415", "422", "429", "503"} == set(login["responses"])
    assert "requestBody" in login
    assert [] == login["security"]


async def test_openapi_matches_the_routes(live_app: LiveApp) -> None:
    """Every documented operation exists on the app (no 404/405 for its method)."""
    client = live_app.client()
    doc = (await client.get("/openapi.json")).json()
    for path, ops in doc["paths"].items():
        for method in ops:
            if method == "parameters":
                continue
            response = await client.request(method.upper(), path.replace("{id}", "x"))
            assert response.status_code not in (404, 405) or (
                response.headers["content-type"] == "application/json"
            ), (method, path)


async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    """Without --metrics, /metrics is a JSON 404."""
    assert_error(await client.get("/metrics"), 404, "not_found")


@pytest.mark.parametrize(
    "server_settings",
    [ServerSettings(store="memory://", dev=True, login_limit="3/minute", metrics=True)],
)
async def test_metrics_count_logins(client: httpx.AsyncClient) -> None:
    """With --metrics, /metrics is Prometheus text counting logins by outcome."""
    await register(client)
    await session_login(client)
    await client.post(
        "/auth/token/login", json={"email": "alice@example.com", "password": "wrong password"}
    )
    response = await client.get("/metrics")
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'gatepass_logins_total{method="session",outcome="ok"} 1.0' in text
    assert 'gatepass_logins_total{method="token",outcome="failed"} 1.0' in text


@pytest.mark.parametrize(
    "server_settings",
    [ServerSettings(store="memory://", dev=True, login_limit="9/minute", metrics=True)],
)
async def test_metrics_cover_the_core(client: httpx.AsyncClient) -> None:
    """Refreshes, reuse, revocations, token-cache hits/misses, feed and latency are exported."""
    await register(client)
    body = {"email": "alice@example.com", "password": PASSWORD}
    pair = (await client.post("/auth/token/login", json=body)).json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    for _ in range(3):
        assert 200 == (await client.get("/auth/me", headers=bearer)).status_code
    newer = await client.post("/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert 200 == newer.status_code
    text = (await client.get("/metrics")).text
    for line in (
        "gatepass_refreshes_total 1.0",
        "gatepass_token_cache_misses_total 1.0",
        "gatepass_token_cache_hits_total 2.0",
        "gatepass_reuse_detections_total 0.0",
        "gatepass_revocations_total 0.0",
    ):
        assert line in text, line
    assert "gatepass_feed_lag_seconds" in text
    assert 'gatepass_request_duration_seconds_count{method="GET",status="2xx"}' in text
