"""The networked stores for the benchmarks: PostgreSQL and Redis, opened and populated.

Each helper raises :class:`~benchmarks.fixtures.NotAvailable` when the backend module
does not import (it is being written) or the server does not answer, so the sections
report a "not available" row instead of failing. Redis keys live under their own
prefix and are deleted afterwards (SCAN + DEL; never FLUSHDB: other suites share the
server). PostgreSQL rows live in the schema ``gatepass_bench`` and are kept between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks.fixtures import (
    SQLITE_SALT,
    NotAvailable,
    postgres_url,
    redis_url,
    session_id,
    session_record,
    session_rows,
)
from gatepass._utils import hash_token
from gatepass.errors import GatepassError
from gatepass.stores.base import Store

__all__ = [
    "PG_SCHEMA",
    "delete_redis_prefix",
    "open_postgres",
    "open_redis",
    "populate",
    "redis_used_memory",
]

PG_SCHEMA = "gatepass_bench"
_COLUMNS = [
    "id_hash", "sid", "user_id", "created_at", "last_seen_at", "expires_at", "idle_ttl",
    "csrf_secret", "ip", "user_agent", "data",
]  # fmt: skip


async def open_postgres(count: int, *, max_size: int = 4) -> Store:
    """A PostgresStore (schema ``gatepass_bench``) holding exactly ``count`` sessions."""
    try:
        import asyncpg

        from gatepass.stores.postgres import PostgresStore
    except ImportError as exc:
        raise NotAvailable(f"gatepass.stores.postgres does not import ({exc})") from exc
    url = postgres_url()
    try:
        admin = await asyncpg.connect(url, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise NotAvailable(f"PostgreSQL not reachable ({type(exc).__name__})") from exc
    try:
        await admin.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
        store = PostgresStore(url, schema=PG_SCHEMA, min_size=1, max_size=max_size)
        try:
            await store.open()
        except GatepassError as exc:
            raise NotAvailable(f"PostgresStore.open failed ({exc.code})") from exc
        table = f"{PG_SCHEMA}.gatepass_sessions"
        have = await admin.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant
        last = await admin.fetchval(
            f"SELECT 1 FROM {table} WHERE id_hash = $1",  # noqa: S608 - constant
            hash_token(session_id(count - 1, SQLITE_SALT)),
        )
        if have != count or last is None:
            await admin.execute(f"TRUNCATE {table}")
            rows = list(session_rows(count, SQLITE_SALT, _now()))
            await admin.copy_records_to_table(
                "gatepass_sessions", schema_name=PG_SCHEMA, records=rows, columns=_COLUMNS
            )
            await admin.execute(f"ANALYZE {table}")
        return store
    finally:
        await admin.close()


def _now() -> float:
    import time

    return time.time()


async def open_redis(prefix: str) -> Store:
    """A RedisStore writing under ``prefix`` (empty: its keys are deleted first)."""
    try:
        from gatepass.stores.redis import RedisStore
    except ImportError as exc:
        raise NotAvailable(f"gatepass.stores.redis does not import ({exc})") from exc
    await delete_redis_prefix(prefix)
    try:
        store: Any = RedisStore(redis_url(), prefix=prefix)
        await store.ping()
    except (GatepassError, OSError) as exc:
        raise NotAvailable(f"Redis not reachable ({type(exc).__name__})") from exc
    return store  # type: ignore[no-any-return]


async def populate(store: Store, count: int, salt: str, *, concurrency: int = 64) -> None:
    """Create sessions ``0 .. count-1`` of ``salt`` through the store's own API."""
    now = _now()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            await store.create_session(session_record(index, salt, now))

    for start in range(0, count, 5000):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 5000))))


async def delete_redis_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` in the benchmark database, and nothing else."""
    try:
        import redis.asyncio as aioredis
    except ImportError:  # pragma: no cover - redis comes with the bench extra
        return
    client = aioredis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)
    try:
        batch: list[Any] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.delete(*batch)
                batch.clear()
        if batch:
            await client.delete(*batch)
    except OSError:
        pass
    except Exception as exc:  # redis errors: the server is not there
        if type(exc).__module__.startswith("redis"):
            return
        raise
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


async def redis_used_memory() -> int:
    """``INFO memory`` ``used_memory`` of the Redis server, bytes."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url(), socket_timeout=5)
    try:
        info = await client.info("memory")
        return int(info["used_memory"])
    finally:
        await client.aclose()
