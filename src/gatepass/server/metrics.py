"""Prometheus metrics of the auth server (``--metrics``; needs ``prometheus-client``).

Counters that the core keeps as plain integers (the Authenticator's ``stats``, the token
cache's hits and misses, the feed's errors and lag) are read at scrape time by a custom
collector, so the request path pays nothing for them. Request latency is measured by a
small pure-ASGI middleware, installed only when metrics are on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gatepass.asgi.middleware import ASGIApp, Message, Receive, Scope, Send
from gatepass.server.context import ServerContext

__all__ = ["MetricsMiddleware", "ServerMetrics"]


class _CoreCollector(Collector):
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        ctx = self._metrics.ctx
        if ctx is None:
            return
        auth = ctx.authenticator
        for name, doc, value in (
            ("gatepass_refreshes", "Successful refresh-token rotations.", auth.stats.refreshes),
            ("gatepass_refresh_failures", "Refused refreshes.", auth.stats.refresh_failures),
            (
                "gatepass_reuse_detections",
                "Spent refresh tokens presented again.",
                auth.stats.reuse_detected,
            ),
            (
                "gatepass_revocations",
                "Logouts, revoked logins and logout-alls.",
                auth.stats.revocations,
            ),
            (
                "gatepass_token_cache_hits",
                "Access tokens answered from the verified-token cache.",
                auth.access.cache.hits,
            ),
            (
                "gatepass_token_cache_misses",
                "Access tokens fully verified.",
                auth.access.cache.misses,
            ),
            ("gatepass_feed_errors", "Revocation feed rounds that failed.", auth.feed.errors),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], value)
            yield counter
        lag = GaugeMetricFamily(
            "gatepass_feed_lag_seconds", "Seconds since the revocation feed was last heard from."
        )
        lag.add_metric([], min(auth.feed.lag, 1e9))
        yield lag
        healthy = GaugeMetricFamily("gatepass_feed_healthy", "1 while the feed is fresh.")
        healthy.add_metric([], 1.0 if auth.feed.healthy else 0.0)
        yield healthy


class ServerMetrics:
    """One app's registry: login counter, store errors, request latency, core counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: The running app's context (set by the lifespan).
        self.ctx: ServerContext | None = None
        self.logins = Counter(
            "gatepass_logins",
            "Password logins by column and outcome.",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "gatepass_store_errors",
            "Requests answered 503 because the store was unavailable.",
            registry=self.registry,
        )
        self.latency = Histogram(
            "gatepass_request_duration_seconds",
            "Request latency by method and status class.",
            ["method", "status"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.registry.register(_CoreCollector(self))

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI: observes each HTTP request's latency and counts 503 store errors."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[Any] = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            code = int(status[0])
            if code == 503:
                self.metrics.store_errors.inc()
            self.metrics.latency.labels(scope.get("method", "GET"), f"{code // 100}xx").observe(
                time.perf_counter() - started
            )
