"""Where the Redis-backed tests find their server, and how they keep out of each other's way.

Tests use ``GATEPASS_TEST_REDIS_URL`` or, by default, logical database 3 on the local
server. Each test writes under its own random key prefix and deletes exactly those keys
afterwards (SCAN + DEL): never FLUSHDB/FLUSHALL, since other suites share the server.
Without a reachable Redis the tests skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import functools
import os
import secrets

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from tests.servers import unavailable

__all__ = ["delete_prefix", "redis_url", "require_redis", "unique_prefix"]

DEFAULT_URL = "redis://127.0.0.1:6379/3"


def redis_url() -> str:
    """The URL of the Redis database the tests may write to."""
    return os.environ.get("GATEPASS_TEST_REDIS_URL", DEFAULT_URL)


@functools.cache
def _unreachable(url: str) -> str | None:
    """Why Redis at ``url`` cannot be used, or None if it answers (probed once per run)."""
    try:
        with redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        ) as client:
            client.ping()
    except (RedisError, OSError, ValueError) as exc:
        return f"Redis is not reachable for the redis store tests ({type(exc).__name__})"
    return None


def require_redis() -> str:
    """Return the test Redis URL, or skip (fail under ``CI=true``) if it does not answer."""
    url = redis_url()
    reason = _unreachable(url)
    if reason is not None:
        unavailable(reason, setting="GATEPASS_TEST_REDIS_URL")
    return url


def unique_prefix() -> str:
    """A fresh key prefix no other test uses."""
    return f"gptest:{secrets.token_hex(6)}:"


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (SCAN + DEL), and nothing else."""
    with redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5) as client:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
