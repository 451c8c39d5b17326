"""The PostgreSQL the tests run against: where it is, and a fresh schema per test.

``GATEPASS_TEST_POSTGRES_URL`` overrides the default DSN. When the server cannot be
reached the PostgreSQL tests are skipped, except on CI (``CI=true``), where they fail:
a CI run must never pass by silently skipping a backend.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import asyncpg

from tests.servers import unavailable

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

#: Whether the server answered, once asked (None: not asked yet in this process).
_reachable: dict[str, str | None] = {}


def postgres_url() -> str:
    """The DSN of the test server."""
    return os.environ.get("GATEPASS_TEST_POSTGRES_URL") or DEFAULT_URL


async def admin_connection() -> asyncpg.Connection:
    """A direct connection to the test server, or skip/fail the test if there is none.

    The first failure is remembered, so an absent server costs one connection
    attempt per test process, not one per test.
    """
    url = postgres_url()
    problem = _reachable.get(url)
    if problem is None:
        try:
            return await asyncpg.connect(url, timeout=3)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            _reachable[url] = problem
    return unavailable(
        f"PostgreSQL is not reachable at the test URL ({problem})",
        setting="GATEPASS_TEST_POSTGRES_URL",
    )


@contextlib.asynccontextmanager
async def temporary_schema() -> AsyncIterator[str]:
    """Create a schema with a random name; drop it (and everything in it) afterwards."""
    schema = f"gp_test_{secrets.token_hex(6)}"
    conn = await admin_connection()
    try:
        # An identifier cannot be a parameter; this one is made of hex digits only.
        await conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield schema
        finally:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()
