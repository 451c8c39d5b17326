"""The PostgreSQL backend: the store contract on a real server, plus what only it has.

Each test gets a fresh schema (``tests/contracts/pg.py``), dropped afterwards. Beyond the
contract: migrations under a concurrent start, rotation raced by OS processes, the
LISTEN/NOTIFY feed losing its listener, lock waits failing closed, and URL handling.
"""

from __future__ import annotations

import secrets
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from gatepass.errors import ConfigurationError, StoreUnavailable
from gatepass.stores import Store, open_store
from gatepass.stores.postgres import PostgresStore
from gatepass.stores.postgres_sql import CREATE_MIGRATIONS, MIGRATIONS
from tests.conftest import FakeClock
from tests.contracts.pg import admin_connection, postgres_url, temporary_schema
from tests.contracts.race import release_together
from tests.contracts.test_stores import StoreContract, a_family, h

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh, empty schema on the test server (skips or fails if there is none)."""
    async with temporary_schema() as schema:
        yield schema


class TestPostgresStore(StoreContract):
    """The PostgreSQL backend, each test in its own schema."""

    @pytest.fixture
    async def store(self, clock: FakeClock, pg_schema: str) -> AsyncIterator[Store]:
        store = PostgresStore(postgres_url(), schema=pg_schema, clock=clock)
        try:
            yield store
        finally:
            await store.aclose()

    async def make_peer(self, store: Store, clock: FakeClock, tmp_path: Path) -> Store:
        assert isinstance(store, PostgresStore)
        return PostgresStore(postgres_url(), schema=store.schema, clock=clock)


# -- migrations and configuration ---------------------------------------------------


async def test_migrations_apply_once_under_a_concurrent_start(pg_schema: str) -> None:
    """Five stores opening one fresh schema at once all succeed and apply each migration once."""
    stores = [PostgresStore(postgres_url(), schema=pg_schema) for _ in range(5)]
    admin = await admin_connection()
    try:
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.open)
        await admin.execute("SELECT set_config('search_path', $1, false)", pg_schema)
        rows = await admin.fetch("SELECT version FROM gatepass_schema_migrations ORDER BY 1")
        assert list(range(1, len(MIGRATIONS) + 1)) == [r["version"] for r in rows]
        for store in stores:
            await store.ping()
    finally:
        await admin.close()
        for store in stores:
            await store.aclose()


async def test_a_version_1_schema_is_upgraded_in_place(pg_schema: str, clock: FakeClock) -> None:
    """A schema left by the first release (its data kept) takes migration 2: the
    ``session`` revocation kind, which version 1's check refused, is then accepted."""
    admin = await admin_connection()
    try:
        await admin.execute("SELECT set_config('search_path', $1, false)", pg_schema)
        await admin.execute(MIGRATIONS[0])
        await admin.execute(CREATE_MIGRATIONS)
        await admin.execute("INSERT INTO gatepass_schema_migrations (version) VALUES (1)")
        await admin.execute(
            "INSERT INTO gatepass_revoked (kind, value, expires_at) VALUES ('jti', 'j1', $1)",
            clock.now + 60,
        )
        with pytest.raises(asyncpg.CheckViolationError, match="gatepass_revoked_kind_check"):
            await admin.execute(
                "INSERT INTO gatepass_revoked (kind, value, expires_at) "
                "VALUES ('session', 'h', $1)",
                clock.now + 60,
            )
    finally:
        await admin.close()
    store = PostgresStore(postgres_url(), schema=pg_schema, clock=clock)
    try:
        event = await store.add_revocation("session", "h1", clock.now + 60, clock.now)
        assert ("session", "h1") == (event.kind, event.value)
        assert await store.is_revoked(jti="j1", sid=None, user_id=None, iat=None)
    finally:
        await store.aclose()
    admin = await admin_connection()
    try:
        await admin.execute("SELECT set_config('search_path', $1, false)", pg_schema)
        rows = await admin.fetch("SELECT version FROM gatepass_schema_migrations ORDER BY 1")
        assert list(range(1, len(MIGRATIONS) + 1)) == [r["version"] for r in rows]
    finally:
        await admin.close()


async def test_newer_schema_version_is_refused(pg_schema: str) -> None:
    """A schema migrated by a newer gatepass is a ConfigurationError, not a silent downgrade."""
    first = PostgresStore(postgres_url(), schema=pg_schema)
    await first.open()
    await first.aclose()
    admin = await admin_connection()
    try:
        await admin.execute("SELECT set_config('search_path', $1, false)", pg_schema)
        await admin.execute("INSERT INTO gatepass_schema_migrations (version) VALUES (999)")
    finally:
        await admin.close()
    store = PostgresStore(postgres_url(), schema=pg_schema)
    try:
        with pytest.raises(ConfigurationError):
            await store.open()
    finally:
        await store.aclose()


async def test_missing_schema_is_a_configuration_error() -> None:
    """A schema that does not exist is a ConfigurationError naming no credentials."""
    await (await admin_connection()).close()
    store = PostgresStore(postgres_url(), schema=f"gp_missing_{secrets.token_hex(4)}")
    try:
        with pytest.raises(ConfigurationError):
            await store.get_user("user-1")
    finally:
        await store.aclose()


@pytest.mark.parametrize("schema", ["Public", "a-b", "x; DROP TABLE y", "", "1abc", "s" * 64])
def test_schema_must_be_a_plain_identifier(schema: str) -> None:
    """Schema names other than lower-case identifiers are refused before any connection."""
    with pytest.raises(ConfigurationError):
        PostgresStore(postgres_url(), schema=schema)


def test_repr_hides_the_dsn() -> None:
    """The store's repr never shows the connection URL's password."""
    store = PostgresStore("postgresql://admin:hunter2@db.example/auth")
    assert "hunter2" not in repr(store)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin:hunter2@db.example/auth",
        "postgres://admin:hunter2@db.example/auth",
        "PostgreSQL://admin:hunter2@db.example/auth",
        "postgresql+asyncpg://admin:hunter2@db.example/auth",
    ],
)
def test_open_store_postgres_urls(url: str) -> None:
    """open_store builds a PostgresStore for the postgresql URL schemes, connecting nothing."""
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert "postgresql" == store.scheme


async def test_open_store_schema_query_parameter(pg_schema: str, clock: FakeClock) -> None:
    """``?schema=NAME`` in the URL puts the tables in that schema (other params are kept)."""
    store = open_store(f"{postgres_url()}?schema={pg_schema}", clock=clock)
    assert isinstance(store, PostgresStore)
    assert pg_schema == store.schema
    try:
        await store.add_revocation("jti", "j1", clock.now + 60, clock.now)
    finally:
        await store.aclose()
    conn = await admin_connection()
    try:
        table = f"{pg_schema}.gatepass_revocation_log"  # a generated identifier, not input
        count = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
    finally:
        await conn.close()
    assert 1 == count


# -- failing closed ---------------------------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (bound and released a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_server_is_store_unavailable() -> None:
    """ping, reads and the feed raise StoreUnavailable for a DSN pointing at a closed port."""
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{_closed_port()}/test")
    try:
        with anyio.fail_after(10):
            with pytest.raises(StoreUnavailable):
                await store.ping()
            with pytest.raises(StoreUnavailable):
                await store.get_user("user-1")
            with pytest.raises(StoreUnavailable):
                await store.wait_revocations(0, max_wait=0.1)
    finally:
        await store.aclose()


async def test_malformed_dsn_is_a_configuration_error() -> None:
    """A DSN asyncpg cannot parse is a ConfigurationError that does not echo the password."""
    store = PostgresStore("postgresql://admin:hunter2@127.0.0.1:notaport/test")
    try:
        with pytest.raises(ConfigurationError) as info:
            await store.ping()
        assert "hunter2" not in str(info.value)
    finally:
        await store.aclose()


async def test_lock_wait_times_out_closed(pg_schema: str, clock: FakeClock) -> None:
    """A rotation stuck behind another transaction's row lock fails with StoreUnavailable."""
    store = PostgresStore(postgres_url(), schema=pg_schema, clock=clock, command_timeout=0.3)
    admin = await admin_connection()
    try:
        await store.create_family(a_family("f1", clock.now))
        await admin.execute("SELECT set_config('search_path', $1, false)", pg_schema)
        async with admin.transaction():
            sql = "SELECT 1 FROM gatepass_families WHERE family_id = $1 FOR UPDATE"
            await admin.execute(sql, "f1")
            with anyio.fail_after(5), pytest.raises(StoreUnavailable):
                await store.rotate_refresh("f1", h("f1-0"), h("f1-1"), "s", clock.now, 0)
        result = await store.rotate_refresh("f1", h("f1-0"), h("f1-1"), "s", clock.now, 0)
        assert ("rotated", 1) == (result.status, result.family and result.family.generation)
    finally:
        await admin.close()
        await store.aclose()


# -- rotation raced by processes -----------------------------------------------------------

_RACE_CHILD = """
import sys, anyio
from gatepass.stores.postgres import PostgresStore

async def main() -> None:
    dsn, schema, family_id, presented, new_hash, now = sys.argv[1:7]
    store = PostgresStore(dsn, schema=schema)
    await store.open()
    print("ready", flush=True)
    sys.stdin.readline()
    result = await store.rotate_refresh(family_id, presented, new_hash, new_hash, float(now), 30)
    print(result.status, flush=True)
    await store.aclose()

anyio.run(main)
"""


def _race_processes(schema: str, now: float, n: int) -> list[str]:
    """Start ``n`` processes on one schema, release them at once, return their outcomes."""
    args = [postgres_url(), schema, "f1", h("f1-0")]
    return release_together(
        [[sys.executable, "-c", _RACE_CHILD, *args, h(f"proc-{i}"), str(now)] for i in range(n)]
    )


@pytest.mark.slow
async def test_processes_race_on_one_family(pg_schema: str, clock: FakeClock) -> None:
    """Four OS processes rotating one family at once: exactly one rotation wins."""
    store = PostgresStore(postgres_url(), schema=pg_schema, clock=clock)
    try:
        await store.create_family(a_family("f1", clock.now))
        outcomes = await anyio.to_thread.run_sync(_race_processes, pg_schema, clock.now, 4)
        assert (1, 3) == (outcomes.count("rotated"), outcomes.count("grace")), outcomes
        family = await store.get_family("f1")
        assert family is not None
        assert 1 == family.generation
        assert 1 == sum(family.current_hash == h(f"proc-{i}") for i in range(4))
    finally:
        await store.aclose()


# -- the LISTEN/NOTIFY feed ----------------------------------------------------------------


async def _terminate_listener(application_name: str) -> None:
    """Kill the feed listener of the store with this application name, and wait until gone."""
    admin = await admin_connection()
    try:
        sql = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        pids = [r["pid"] for r in await admin.fetch(sql, application_name + ":feed")]
        assert 1 == len(pids)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pids[0])
        with anyio.fail_after(5):
            while await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pids[0]
            ):
                await anyio.sleep(0.01)
        await anyio.sleep(0.05)  # let the client read the end of the stream
    finally:
        await admin.close()


@pytest.fixture
async def feed_pair(
    pg_schema: str, clock: FakeClock
) -> AsyncIterator[tuple[PostgresStore, PostgresStore, str]]:
    """A store with a unique application name (to find its listener) and a peer writer."""
    name = f"gp-test-{secrets.token_hex(4)}"
    store = PostgresStore(postgres_url(), schema=pg_schema, clock=clock, application_name=name)
    peer = PostgresStore(postgres_url(), schema=pg_schema, clock=clock)
    try:
        yield store, peer, name
    finally:
        await peer.aclose()
        await store.aclose()


async def test_feed_reports_a_lost_listener_and_catches_up(
    feed_pair: tuple[PostgresStore, PostgresStore, str], clock: FakeClock
) -> None:
    """A waiter whose listener is killed raises; the next call misses nothing, then listens."""
    store, peer, name = feed_pair
    first = await peer.add_revocation("jti", "before", clock.now + 60, clock.now)
    outcome: list[str] = []

    async def waiter() -> None:
        try:
            events = await store.wait_revocations(first.seq, max_wait=30)
        except StoreUnavailable:
            outcome.append("unavailable")
        else:
            outcome.append(f"returned {events}")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.1)
            await _terminate_listener(name)
    assert ["unavailable"] == outcome
    missed = await peer.add_revocation("sid", "while-down", clock.now + 60, clock.now)
    with anyio.fail_after(5):
        assert [missed] == await store.wait_revocations(first.seq, max_wait=5)
    seen: list[str] = []

    async def listening() -> None:
        seen.extend(e.value for e in await store.wait_revocations(missed.seq, max_wait=30))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(listening)
            await anyio.sleep(0.05)
            await peer.add_revocation("jti", "after", clock.now + 60, clock.now)
    assert ["after"] == seen


async def test_feed_heals_a_listener_lost_between_calls(
    feed_pair: tuple[PostgresStore, PostgresStore, str], clock: FakeClock
) -> None:
    """A listener lost while nobody waits is replaced by the next call, whose catch-up read
    returns what was written meanwhile."""
    store, peer, name = feed_pair
    assert [] == await store.wait_revocations(0, max_wait=0)
    await _terminate_listener(name)
    missed = await peer.add_revocation("sid", "while-down", clock.now + 60, clock.now)
    with anyio.fail_after(5):
        assert [missed] == await store.wait_revocations(0, max_wait=5)


async def test_feed_follower_misses_nothing_under_concurrent_writers(
    feed_pair: tuple[PostgresStore, PostgresStore, str], clock: FakeClock
) -> None:
    """A follower advancing its cursor sees every one of 40 revocations written concurrently."""
    store, peer, _ = feed_pair
    values = {f"j{i}" for i in range(40)}
    seen: list[str] = []

    async def follow() -> None:
        cursor = 0
        while len(seen) < len(values):
            for event in await store.wait_revocations(cursor, max_wait=1):
                seen.append(event.value)
                cursor = event.seq

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            await anyio.sleep(0.05)
            for i in range(40):
                writer = store if i % 2 else peer
                tg.start_soon(writer.add_revocation, "jti", f"j{i}", clock.now + 60, clock.now)
    assert values == set(seen)
    assert len(values) == len(seen)
