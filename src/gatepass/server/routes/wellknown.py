"""Open routes: the JWK Set, the health check, the OpenAPI document and metrics.

``/metrics`` exists only when the server runs with ``--metrics``; otherwise it is 404.
Each app keeps its own registry (``app.state``), so two apps in one process never mix
their counters.
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatepass.asgi.errors import error_status
from gatepass.errors import NotFound, StoreError
from gatepass.server.context import ServerContext
from gatepass.server.http import json_response
from gatepass.server.metrics import ServerMetrics
from gatepass.server.openapi import openapi_document

__all__ = ["record_login", "routes"]

#: How long clients and caches may keep the JWK Set (seconds).
JWKS_MAX_AGE = 300


def _ctx(request: Request) -> ServerContext:
    return cast(ServerContext, request.state.gatepass)


def _metrics(request: Request) -> ServerMetrics | None:
    metrics = getattr(request.app.state, "gatepass_metrics", None)
    return metrics if isinstance(metrics, ServerMetrics) else None


def record_login(request: Request, method: str, outcome: str) -> None:
    """Count one password login (``method`` session/token, ``outcome`` ok/failed)."""
    metrics = _metrics(request)
    if metrics is not None:
        metrics.logins.labels(method=method, outcome=outcome).inc()


async def jwks(request: Request) -> Response:
    """GET /.well-known/jwks.json: every public verification key."""
    response = json_response(_ctx(request).authenticator.keyring.jwks())
    response.headers["cache-control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


async def healthz(request: Request) -> Response:
    """GET /healthz: the store and the revocation feed; 503 when the store is down.

    ``feed`` is ``ok`` while revocation checks are answered from memory, ``stale`` while
    they go to the store directly (still correct, slower); ``feed_lag`` is in seconds.
    """
    ctx = _ctx(request)
    feed = ctx.authenticator.feed
    data: dict[str, object] = {
        "status": "ok",
        "store": "ok",
        "feed": "ok" if feed.healthy else "stale",
        "feed_lag": round(min(feed.lag, 1e9), 3),
    }
    try:
        await ctx.store.ping()
    except StoreError as exc:
        data.update(status="error", store="down")
        return json_response(data, error_status(exc), no_store=True)
    return json_response(data, no_store=True)


async def openapi(request: Request) -> Response:
    """GET /openapi.json: the OpenAPI 3.1 document of the JSON API."""
    return json_response(openapi_document(_ctx(request).settings))


async def metrics(request: Request) -> Response:
    """GET /metrics: Prometheus text format, when enabled."""
    found = _metrics(request)
    if found is None:
        raise NotFound("metrics are disabled")
    body, content_type = found.render()
    return Response(body, headers={"content-type": content_type, "cache-control": "no-store"})


def routes() -> list[BaseRoute]:
    """The open routes."""
    return [
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
