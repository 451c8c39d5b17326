"""Open routes: the JWK Set, the health check, the OpenAPI document and metrics.

``/metrics`` exists only when the server runs with ``--metrics`` and
``prometheus-client`` is installed (the ``gatepass[metrics]`` extra); otherwise it is
404. Each app keeps its own registry (``app.state``), so two apps in one process
never mix their counters.
"""

from __future__ import annotations

import importlib.util
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatepass.asgi.errors import error_status
from gatepass.errors import NotFound, StoreError
from gatepass.server.context import ServerContext
from gatepass.server.http import json_response
from gatepass.server.openapi import openapi_document

__all__ = ["record_login", "routes"]

#: How long clients and caches may keep the JWK Set (seconds).
JWKS_MAX_AGE = 300
_HAVE_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None


def _ctx(request: Request) -> ServerContext:
    return cast(ServerContext, request.state.gatepass)


class _Metrics:
    """The app's Prometheus registry and its counters."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry(auto_describe=True)
        self.logins = Counter(
            "gatepass_logins",
            "Password logins by column and outcome.",
            ["method", "outcome"],
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _metrics(request: Request) -> _Metrics | None:
    if not (_HAVE_PROMETHEUS and _ctx(request).settings.metrics):
        return None
    state: Any = request.app.state
    metrics = getattr(state, "gatepass_metrics", None)
    if metrics is None:
        metrics = _Metrics()
        state.gatepass_metrics = metrics
    return cast(_Metrics, metrics)


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
    """GET /healthz: 200 when the store answers, 503 when it does not."""
    try:
        await _ctx(request).store.ping()
    except StoreError as exc:
        data = {"status": "error", "store": "down"}
        return json_response(data, error_status(exc), no_store=True)
    return json_response({"status": "ok", "store": "ok"}, no_store=True)


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
