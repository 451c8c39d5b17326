"""Stores: the record families (:mod:`gatepass.stores.base`) and :func:`open_store`.

A backend is chosen by URL; its module (and its driver) is imported only when a URL
asks for it:

- ``memory://``: :class:`~gatepass.stores.memory.MemoryStore`, for tests and demos.
- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``:
  :class:`~gatepass.stores.sqlite.SQLiteStore` (three slashes, then the path, as in
  SQLAlchemy; ``sqlite:///gatepass.db`` is relative to the working directory).
- ``redis://host:port/db`` or ``rediss://...``: :class:`~gatepass.stores.redis.RedisStore`;
  :func:`open_stores` puts it next to a durable store (``--redis``). ``?prefix=NAME``
  sets the key prefix (default ``gp:``), so several deployments can share one database.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gatepass.errors import ConfigurationError
from gatepass.stores.base import (
    AuditEvent,
    FamilyRecord,
    KeyRecord,
    KeyStatus,
    RevocationEvent,
    RevocationKind,
    RotateStatus,
    RotationResult,
    SessionRecord,
    Store,
    UserRecord,
)
from gatepass.types import Clock

__all__ = [
    "AuditEvent",
    "FamilyRecord",
    "KeyRecord",
    "KeyStatus",
    "RevocationEvent",
    "RevocationKind",
    "RotateStatus",
    "RotationResult",
    "SessionRecord",
    "Store",
    "UserRecord",
    "open_store",
    "open_stores",
]

_SQLITE_PREFIX = "sqlite:///"
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,30}")
_LATER = frozenset({"redis", "rediss", "postgres", "postgresql", "postgresql+asyncpg"})


def open_store(url: str, *, clock: Clock = time.time) -> Store:
    """Build the store a URL names; nothing is connected until its first use.

    Args:
        url: ``memory://``, ``sqlite:///relative.db`` or ``sqlite:////absolute.db``.
        clock: The time source handed to the store.

    Returns:
        A store implementing every record family.

    Raises:
        ConfigurationError: the URL is malformed or names a backend that is not
            available. The message names the scheme only, never the whole URL
            (which may carry a password).
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigurationError("store URL must look like scheme://...")
    if scheme == "memory":
        if rest:
            raise ConfigurationError("memory store URL takes no path: use memory://")
        from gatepass.stores.memory import MemoryStore

        return MemoryStore(clock=clock)
    if scheme == "sqlite":
        if url[: len(_SQLITE_PREFIX)].lower() != _SQLITE_PREFIX:
            raise ConfigurationError(
                "sqlite store URL must be sqlite:///relative.db or sqlite:////absolute.db"
            )
        path = url[len(_SQLITE_PREFIX) :]
        if not path or path == ":memory:" or path.endswith("/"):
            raise ConfigurationError(
                "sqlite store URL needs a file path (use memory:// for a throwaway store)"
            )
        from gatepass.stores.sqlite import SQLiteStore

        return SQLiteStore(path, clock=clock)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        try:
            from gatepass.stores.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                "the postgresql store needs the postgres extra: pip install 'gatepass[postgres]'"
            ) from exc

        dsn, schema = _pop_query_param(f"postgresql://{rest}", "schema")
        return PostgresStore(dsn, clock=clock, schema=schema or "public")
    if scheme in ("redis", "rediss"):
        try:
            from gatepass.stores.redis import RedisStore
        except ImportError as exc:
            raise ConfigurationError(
                "the redis store needs the redis extra: pip install 'gatepass[redis]'"
            ) from exc

        dsn, prefix = _pop_query_param(url, "prefix")
        if prefix is None:
            return RedisStore(dsn, clock=clock)
        if not prefix:
            raise ConfigurationError("redis store URL: prefix must not be empty")
        return RedisStore(dsn, clock=clock, prefix=prefix)
    if scheme in _LATER:
        raise ConfigurationError(
            f"the {scheme} store backend is not available yet in this version of gatepass "
            "(it will need the matching extra: gatepass[redis] or gatepass[postgres])"
        )
    if _SCHEME.fullmatch(scheme):
        raise ConfigurationError(f"unknown store scheme {scheme!r}")
    raise ConfigurationError("malformed store URL")


def open_stores(url: str, redis_url: str | None = None, *, clock: Clock = time.time) -> Store:
    """Build the store for ``--store`` and, optionally, ``--redis``.

    Args:
        url: The durable store's URL (see :func:`open_store`).
        redis_url: A ``redis://`` / ``rediss://`` URL, or None. When given, sessions
            and throttle counters live in that Redis and the rest (revocations and
            their feed included) in ``url``'s store
            (:class:`~gatepass.stores.split.SplitStore`).
        clock: The time source handed to the stores.

    Raises:
        ConfigurationError: a URL is malformed or names an unavailable backend.
    """
    durable = open_store(url, clock=clock)
    if redis_url is None:
        return durable
    if redis_url.partition("://")[0].lower() not in ("redis", "rediss"):
        raise ConfigurationError("the --redis URL must start with redis:// or rediss://")
    from gatepass.stores.split import SplitStore

    return SplitStore(durable, open_store(redis_url, clock=clock))


def _pop_query_param(url: str, name: str) -> tuple[str, str | None]:
    """Remove ``name`` from the URL's query string; return the URL and its value."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    value = next((v for k, v in pairs if k == name), None)
    query = urlencode([(k, v) for k, v in pairs if k != name])
    return urlunsplit(parts._replace(query=query)), value
