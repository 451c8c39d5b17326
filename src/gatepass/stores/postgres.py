"""The durable store for many instances: PostgreSQL through asyncpg (scheme ``postgresql``).

Design:

- A connection **pool** (``asyncpg.create_pool``) serves every operation; it is created
  by :meth:`PostgresStore.open`, which is idempotent and also run lazily by the first
  operation. Every query has a client-side ``command_timeout``, so a hung server fails
  closed (:class:`~gatepass.errors.StoreUnavailable`) instead of hanging requests.
- **Migrations** run on open: an ordered list of SQL scripts, recorded in
  ``gatepass_schema_migrations`` and applied in one transaction that first takes a
  transaction-scoped advisory lock, so several processes starting at once apply each
  script exactly once.
- **Atomic writes** are single transactions: ``rotate_refresh`` locks the family row
  (``SELECT ... FOR UPDATE``) and then applies exactly the rules of the other backends;
  ``activate_key`` locks the key rows; ``add_revocation`` updates the live sets and
  appends to the log in one transaction, serialised by an advisory lock so that log
  entries commit in ``seq`` order (a reader following the log never skips a lower
  ``seq`` that commits late).
- The **revocation feed** uses LISTEN/NOTIFY: ``add_revocation`` calls ``pg_notify``
  inside its transaction (delivered on commit), and one dedicated listener connection
  (outside the pool) wakes the waiters. The feed's reads run on that same connection, so
  a return from :meth:`PostgresStore.wait_revocations` proves the listener was alive. A
  listener lost during a wait (or a read) raises ``StoreUnavailable``; the next call
  opens a new listener *before* its catch-up read, so nothing written in the gap is
  missed (a listener lost between calls is simply replaced by the next call).

Tables carry the ``gatepass_`` prefix and live in one schema (``public`` by default);
times are ``double precision`` Unix seconds, as in the records. Every statement is a
literal with ``$n`` parameters. asyncpg is imported by this module only (the
``postgres`` extra), and only asyncio can run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import asyncpg

from gatepass._utils import constant_time_equals
from gatepass.errors import (
    ConfigurationError,
    GatepassError,
    NotFound,
    StoreConflict,
    StoreUnavailable,
)
from gatepass.stores import postgres_sql as q
from gatepass.stores.base import (
    PURGE_MARGIN,
    AuditEvent,
    FamilyRecord,
    KeyRecord,
    KeyStatus,
    RevocationEvent,
    RevocationKind,
    RotationResult,
    SessionRecord,
    UserRecord,
    check_key_status,
    check_revocation_kind,
    dump_session_data,
    load_session_data,
)
from gatepass.types import Clock

__all__ = ["CHANNEL", "PostgresStore"]

Row = Any  # an asyncpg.Record: indexable by position and by column name

#: The NOTIFY channel of the revocation feed (payload: the new ``seq``).
CHANNEL = "gatepass_revocations"
#: Advisory-lock class ids (first key of the two-key form; the second is the schema's hash).
_MIGRATION_LOCK = 0x6761_7465  # "gate"
_LOG_LOCK = 0x6C6F_6773  # "logs"
#: How long ``ping`` waits for ``SELECT 1``, seconds.
PING_TIMEOUT = 2.0
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# -- errors and rows --------------------------------------------------------------


@contextlib.contextmanager
def _map_errors(*, connecting: bool = False) -> Iterator[None]:
    """Translate asyncpg and socket errors into the gatepass tree at the boundary.

    Constraint violations become :class:`StoreConflict`; an unusable connection URL
    (only while ``connecting``) :class:`ConfigurationError`; every other driver,
    socket or timeout error :class:`StoreUnavailable` (callers fail closed). Messages
    name the exception type only, never the URL (which may carry a password).
    """
    try:
        yield
    except GatepassError:
        raise
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise StoreConflict("postgres: constraint violated") from exc
    except (asyncpg.ClientConfigurationError, ValueError) as exc:
        if not connecting:
            raise StoreUnavailable(f"postgres: {type(exc).__name__}") from exc
        raise ConfigurationError(
            f"postgres: unusable connection URL ({type(exc).__name__})"
        ) from exc
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
        TimeoutError,
    ) as exc:
        raise StoreUnavailable(f"postgres: {type(exc).__name__}") from exc


def _status_count(status: str) -> int:
    """The row count of a command status such as ``"UPDATE 3"`` or ``"INSERT 0 1"``."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError as exc:
        raise StoreUnavailable("postgres: unexpected command status") from exc


def _session(r: Row) -> SessionRecord:
    data = load_session_data(r["data"], "postgres")
    return SessionRecord(**{**dict(r), "data": data})


def _family(r: Row) -> FamilyRecord:
    return FamilyRecord(**dict(r))


class PostgresStore:
    """Every record family in one PostgreSQL schema.

    Args:
        dsn: A libpq-style URL, ``postgresql://user:password@host:5432/database``.
        clock: The time source; used where a method takes no ``now`` (which
            families :meth:`revoke_user_families` counts as live).
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most (plus one feed listener).
        schema: The (existing) schema holding the ``gatepass_*`` tables; a lower-case
            identifier.
        command_timeout: Seconds any one query (or a wait for a pooled connection)
            may take before it fails with ``StoreUnavailable``.
        connect_timeout: Seconds to establish a connection.
        application_name: Shown in ``pg_stat_activity``; the feed listener uses this
            name with ``:feed`` appended.

    Raises:
        ConfigurationError: ``schema`` is not a plain lower-case identifier, or the
            pool sizes are inconsistent.
    """

    scheme = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        clock: Clock = time.time,
        min_size: int = 1,
        max_size: int = 10,
        schema: str = "public",
        command_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        application_name: str = "gatepass",
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigurationError("postgres: schema must be a lower-case identifier")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigurationError("postgres: need 0 <= min_size <= max_size and max_size >= 1")
        self._dsn = dsn
        self._clock = clock
        self._min_size = min_size
        self._max_size = max_size
        self.schema = schema
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._application_name = application_name
        self._pool: Any = None
        self._closed = False
        self._open_lock = asyncio.Lock()
        # The revocation feed: one listener connection, a lock serialising its use,
        # and an event replaced on every notification (waiters grab it before reading).
        self._listener: Any = None
        self._listener_lost = False
        self._listen_lock = asyncio.Lock()
        self._feed_lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def __repr__(self) -> str:  # never show the DSN: it may carry a password
        return f"<PostgresStore schema={self.schema!r}>"

    # -- connections --------------------------------------------------------------

    def _server_settings(self, suffix: str = "") -> dict[str, str]:
        return {"search_path": self.schema, "application_name": self._application_name + suffix}

    async def open(self) -> None:
        """Create the pool and apply pending migrations (idempotent).

        Raises:
            ConfigurationError: unusable URL, missing schema, or a newer schema version.
            StoreUnavailable: the server cannot be reached, or the store was closed.
        """
        async with self._open_lock:
            if self._closed:
                raise StoreUnavailable("postgres: store is closed")
            if self._pool is not None:
                return
            with _map_errors(connecting=True):
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    command_timeout=self._command_timeout,
                    timeout=self._connect_timeout,
                    server_settings=self._server_settings(),
                )
            try:
                with _map_errors():
                    async with pool.acquire(timeout=self._command_timeout) as conn:
                        await self._migrate(conn)
                if self._closed:
                    raise StoreUnavailable("postgres: store is closed")
            except BaseException:
                pool.terminate()
                raise
            self._pool = pool

    @staticmethod
    async def _migrate(conn: Any) -> None:
        """Apply the pending migrations under a per-schema advisory lock, in one transaction."""
        async with conn.transaction():
            if await conn.fetchval("SELECT current_schema()") is None:
                raise ConfigurationError("postgres: the configured schema does not exist")
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", _MIGRATION_LOCK
            )
            await conn.execute(q.CREATE_MIGRATIONS)
            rows = await conn.fetch("SELECT version FROM gatepass_schema_migrations")
            applied = {int(r[0]) for r in rows}
            if applied and max(applied) > len(q.MIGRATIONS):
                raise ConfigurationError(
                    f"postgres: schema version {max(applied)} is newer than this gatepass "
                    f"({len(q.MIGRATIONS)})"
                )
            for version, script in enumerate(q.MIGRATIONS, start=1):
                if version not in applied:
                    await conn.execute(script)
                    await conn.execute(
                        "INSERT INTO gatepass_schema_migrations (version) VALUES ($1)", version
                    )

    async def _ready(self) -> Any:
        if self._pool is None:
            await self.open()
        pool = self._pool
        if self._closed or pool is None:
            raise StoreUnavailable("postgres: store is closed")
        return pool

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection; waiting for one is bounded by ``command_timeout`` too."""
        pool = await self._ready()
        with _map_errors():
            async with pool.acquire(timeout=self._command_timeout) as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A pooled connection inside one transaction (committed unless the body raises)."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _fetch(self, sql: str, *args: object) -> list[Row]:
        async with self._connection() as conn:
            return list(await conn.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: object) -> Row | None:
        async with self._connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def _execute(self, sql: str, *args: object) -> int:
        """Run one statement; return its row count."""
        async with self._connection() as conn:
            return _status_count(await conn.execute(sql, *args))

    # -- users --------------------------------------------------------------------

    async def create_user(self, user: UserRecord) -> None:
        """Insert a user; :class:`~gatepass.errors.StoreConflict` if id or email exists."""
        u = user
        await self._execute(q.INSERT_USER, u.id, u.email, u.password_hash, u.created_at, u.disabled)

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""
        row = await self._fetchrow(q.SELECT_USER, user_id)
        return None if row is None else UserRecord(**dict(row))

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """The user with exactly this (normalised) email, or None."""
        row = await self._fetchrow(q.SELECT_USER_BY_EMAIL, email)
        return None if row is None else UserRecord(**dict(row))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the password hash; :class:`~gatepass.errors.NotFound` if unknown."""
        sql = "UPDATE gatepass_users SET password_hash = $1 WHERE id = $2"
        if await self._execute(sql, password_hash, user_id) != 1:
            raise NotFound("postgres: no such user")

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        """Set or clear the disabled flag; :class:`~gatepass.errors.NotFound` if unknown."""
        sql = "UPDATE gatepass_users SET disabled = $1 WHERE id = $2"
        if await self._execute(sql, disabled, user_id) != 1:
            raise NotFound("postgres: no such user")

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """Users ordered by ``created_at``, then ``id``."""
        rows = await self._fetch(q.LIST_USERS, max(limit, 0), max(offset, 0))
        return [UserRecord(**dict(r)) for r in rows]

    # -- sessions -----------------------------------------------------------------

    async def create_session(self, record: SessionRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the id hash or sid exists."""
        r = record
        await self._execute(
            q.INSERT_SESSION, r.id_hash, r.sid, r.user_id, r.created_at, r.last_seen_at,
            r.expires_at, r.idle_ttl, r.csrf_secret, r.ip, r.user_agent, dump_session_data(r.data),
        )  # fmt: skip

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """The stored record, even if expired, or None."""
        row = await self._fetchrow(q.SELECT_SESSION, id_hash)
        return None if row is None else _session(row)

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None:
        """The session with this public sid, or None."""
        row = await self._fetchrow(q.SELECT_SESSION_BY_SID, sid)
        return None if row is None else _session(row)

    async def touch_session(self, id_hash: str, last_seen_at: float) -> None:
        """Move ``last_seen_at`` forward (never backward); unknown ids are ignored."""
        sql = (
            "UPDATE gatepass_sessions SET last_seen_at = $1 "
            "WHERE id_hash = $2 AND last_seen_at < $1"
        )
        await self._execute(sql, last_seen_at, id_hash)

    async def rotate_session(self, old_hash: str, new_hash: str) -> bool:
        """Re-key a session; False if ``old_hash`` is unknown, conflict if ``new_hash`` exists."""
        sql = "UPDATE gatepass_sessions SET id_hash = $1 WHERE id_hash = $2"
        return await self._execute(sql, new_hash, old_hash) == 1

    async def _delete_sessions(self, sql: str, value: str) -> list[SessionRecord]:
        rows = await self._fetch(sql, value)
        return sorted(map(_session, rows), key=lambda s: (s.created_at, s.sid))

    async def delete_session(self, id_hash: str) -> SessionRecord | None:
        """Delete and return the record (None if it was not there)."""
        deleted = await self._delete_sessions(q.DELETE_SESSION, id_hash)
        return deleted[0] if deleted else None

    async def delete_session_by_sid(self, sid: str) -> SessionRecord | None:
        """Delete and return the session with this sid (None if it was not there)."""
        deleted = await self._delete_sessions(q.DELETE_SESSION_BY_SID, sid)
        return deleted[0] if deleted else None

    async def list_user_sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """The user's sessions whose deadline lies after ``now``, oldest first."""
        return [_session(r) for r in await self._fetch(q.LIST_USER_SESSIONS, user_id, now)]

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """Delete every session of the user (live or not) in one statement; oldest first."""
        return await self._delete_sessions(q.DELETE_USER_SESSIONS, user_id)

    # -- refresh-token families ---------------------------------------------------

    async def create_family(self, record: FamilyRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the family id exists."""
        await self._execute(q.INSERT_FAMILY, *dataclasses.astuple(record))

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family, or None."""
        row = await self._fetchrow(q.SELECT_FAMILY, family_id)
        return None if row is None else _family(row)

    async def rotate_refresh(
        self,
        family_id: str,
        presented_hash: str,
        new_hash: str,
        sealed_successor: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        """Compare-and-set rotation in one transaction holding the family's row lock.

        Concurrent callers queue on ``SELECT ... FOR UPDATE``; each sees the family as
        the previous one committed it (see ``RotationResult`` for the outcomes).
        """
        async with self._transaction() as c:
            row = await c.fetchrow(q.LOCK_FAMILY, family_id)
            if row is None:
                return RotationResult("invalid")
            family = _family(row)
            if now >= family.expires_at:
                return RotationResult("expired", family)
            if family.revoked:
                return RotationResult("revoked", family)
            if constant_time_equals(presented_hash, family.current_hash):
                status = await c.execute(
                    q.ROTATE_FAMILY, new_hash, sealed_successor, now, family_id, presented_hash
                )
                if _status_count(status) != 1:  # impossible under the row lock
                    raise StoreUnavailable("postgres: concurrent rotation")
                await c.execute(
                    "INSERT INTO gatepass_spent_hashes (family_id, hash) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    family_id,
                    presented_hash,
                )
                rotated = dataclasses.replace(
                    family,
                    previous_hash=presented_hash,
                    current_hash=new_hash,
                    sealed_successor=sealed_successor,
                    rotated_at=now,
                    generation=family.generation + 1,
                    last_used_at=now,
                )
                return RotationResult("rotated", rotated)
            if (
                grace > 0
                and family.previous_hash is not None
                and family.rotated_at is not None
                and constant_time_equals(presented_hash, family.previous_hash)
                and now - family.rotated_at <= grace
            ):
                return RotationResult("grace", family)
            spent = await c.fetchval(
                "SELECT 1 FROM gatepass_spent_hashes WHERE family_id = $1 AND hash = $2",
                family_id,
                presented_hash,
            )
            if spent is not None:
                sql = "UPDATE gatepass_families SET revoked = true WHERE family_id = $1"
                await c.execute(sql, family_id)
                return RotationResult("reused", dataclasses.replace(family, revoked=True))
            return RotationResult("invalid")

    async def revoke_family(self, family_id: str) -> FamilyRecord | None:
        """Mark revoked; return the record as it was before (None if unknown)."""
        async with self._transaction() as c:
            row = await c.fetchrow(q.LOCK_FAMILY, family_id)
            if row is None:
                return None
            sql = "UPDATE gatepass_families SET revoked = true WHERE family_id = $1"
            await c.execute(sql, family_id)
            return _family(row)

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """The user's families neither revoked nor past ``expires_at``, oldest first."""
        return [_family(r) for r in await self._fetch(q.LIST_USER_FAMILIES, user_id, now)]

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """Revoke the user's live families (per the store clock) in one statement."""
        rows = await self._fetch(q.REVOKE_USER_FAMILIES, user_id, self._clock())
        return sorted(map(_family, rows), key=lambda f: (f.created_at, f.family_id))

    # -- revocations ----------------------------------------------------------------

    async def add_revocation(
        self,
        kind: RevocationKind,
        value: str,
        expires_at: float,
        now: float,
        not_before: float | None = None,
    ) -> RevocationEvent:
        """Record a revocation in the live sets, append it to the log and notify, atomically.

        For ``user``, a missing ``not_before`` means ``now``; the user's watermark
        only ever moves forward. Appends are serialised by an advisory lock held to
        commit, so log entries become visible in ``seq`` order.
        """
        check_revocation_kind(kind)
        if kind == "user" and not_before is None:
            not_before = now
        async with self._transaction() as c:
            await c.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", _LOG_LOCK
            )
            live_not_before = not_before if kind == "user" else None
            await c.execute(q.UPSERT_REVOKED, kind, value, expires_at, live_not_before)
            seq = await c.fetchval(q.LOG_REVOCATION, kind, value, expires_at, not_before, now)
            await c.execute("SELECT pg_notify($1, $2)", CHANNEL, str(seq))
        return RevocationEvent(int(seq), kind, value, expires_at, not_before, now)

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """Direct check: jti or sid revoked, or ``iat`` below the user's watermark."""
        return await self._fetchrow(q.IS_REVOKED, jti, sid, user_id, iat) is not None

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """Log entries with ``seq`` greater than the given one, in order."""
        rows = await self._fetch(q.REVOCATIONS_SINCE, seq, max(limit, 0))
        return [RevocationEvent(**dict(r)) for r in rows]

    async def wait_revocations(
        self, after: int, max_wait: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """Entries after ``after``, waiting on LISTEN/NOTIFY up to ``max_wait`` seconds.

        Ensures a live listener (opening one if the last was lost), reads the log
        (catch-up), then waits for a notification and reads again. The reads run on the
        listener connection itself, so a return (``[]`` included) proves it was alive,
        and LISTEN precedes the catch-up read, so no entry falls between them.

        Raises:
            StoreUnavailable: the listener connection cannot be opened or was lost
                (the next call opens a new one; its catch-up read covers the gap).
        """
        deadline = time.monotonic() + max_wait
        listener = await self._listen()
        while True:
            wake = self._wake  # grabbed before reading: a later NOTIFY sets this event
            events = await self._feed_read(listener, after, limit)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            with anyio.move_on_after(remaining):
                await wake.wait()
            self._check_listener(listener)

    def _check_listener(self, listener: Any) -> None:
        if self._closed:
            raise StoreUnavailable("postgres: store is closed")
        if listener is not self._listener or self._listener_lost or listener.is_closed():
            self._drop_listener(listener)
            raise StoreUnavailable("postgres: revocation feed listener lost")

    async def _feed_read(self, listener: Any, after: int, limit: int) -> list[RevocationEvent]:
        async with self._feed_lock:
            self._check_listener(listener)
            try:
                with _map_errors():
                    rows = await listener.fetch(
                        q.REVOCATIONS_SINCE, after, max(limit, 0), timeout=self._command_timeout
                    )
            except StoreUnavailable:
                self._drop_listener(listener)
                raise
        return [RevocationEvent(**dict(r)) for r in rows]

    async def _listen(self) -> Any:
        """The live listener connection, opening one (LISTEN on :data:`CHANNEL`) if needed."""
        async with self._listen_lock:
            listener = self._listener
            if listener is not None and not self._listener_lost and not listener.is_closed():
                return listener
            self._drop_listener(listener)
            await self._ready()  # the schema and its log exist before anyone listens
            with _map_errors(connecting=True):
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    server_settings=self._server_settings(":feed"),
                )
            try:
                with _map_errors():
                    conn.add_termination_listener(self._on_listener_closed)
                    await conn.add_listener(CHANNEL, self._on_notify)
                if self._closed:
                    raise StoreUnavailable("postgres: store is closed")
            except BaseException:
                conn.terminate()
                raise
            self._listener = conn
            self._listener_lost = False
            return conn

    def _drop_listener(self, listener: Any) -> None:
        """Forget ``listener`` if it is the current one and terminate it."""
        if listener is None:
            return
        if listener is self._listener:
            self._listener = None
            self._listener_lost = False
        if not listener.is_closed():
            listener.terminate()

    def _wake_waiters(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._wake_waiters()

    def _on_listener_closed(self, conn: Any) -> None:
        if conn is self._listener:
            self._listener_lost = True
        self._wake_waiters()

    # -- signing keys -----------------------------------------------------------------

    async def add_key(self, record: KeyRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the kid exists."""
        check_key_status(record.status)
        r = record
        sql = (
            "INSERT INTO gatepass_keys (kid, alg, private_jwk, created_at, status) "
            "VALUES ($1, $2, $3, $4, $5)"
        )
        await self._execute(sql, r.kid, r.alg, r.private_jwk, r.created_at, r.status)

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first (insertion order breaks ties)."""
        sql = (
            "SELECT kid, alg, private_jwk, created_at, status FROM gatepass_keys "
            "ORDER BY created_at, seq"
        )
        return [KeyRecord(**dict(r)) for r in await self._fetch(sql)]

    async def set_key_status(self, kid: str, status: KeyStatus) -> None:
        """Set a key's status; :class:`~gatepass.errors.NotFound` if the kid is unknown."""
        check_key_status(status)
        if await self._execute("UPDATE gatepass_keys SET status = $1 WHERE kid = $2", status, kid):
            return
        raise NotFound("postgres: no such key")

    async def activate_key(self, kid: str) -> None:
        """Make ``kid`` the one active key; the former active keys become ``verify``.

        The transaction locks every key row first, so concurrent activations of
        different keys serialise and exactly one key ends up active.
        """
        async with self._transaction() as c:
            await c.execute("SELECT 1 FROM gatepass_keys ORDER BY seq FOR UPDATE")
            sql = "UPDATE gatepass_keys SET status = 'active' WHERE kid = $1"
            if _status_count(await c.execute(sql, kid)) != 1:
                raise NotFound("postgres: no such key")
            sql = "UPDATE gatepass_keys SET status = 'verify' WHERE status = 'active' AND kid <> $1"
            await c.execute(sql, kid)

    # -- login throttling -------------------------------------------------------------

    async def hit(self, key: str, now: float, window: float) -> int:
        """Record one failure; return failures within ``(now-window, now]``."""
        start = now - window
        async with self._transaction() as c:
            await c.execute("DELETE FROM gatepass_throttle WHERE key = $1 AND ts <= $2", key, start)
            await c.execute("INSERT INTO gatepass_throttle (key, ts) VALUES ($1, $2)", key, now)
            row = await c.fetchrow(q.THROTTLE_COUNT, key, start, now)
        return int(row[0])

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """Failures within the window and the time of the oldest of them."""
        row = await self._fetchrow(q.THROTTLE_COUNT, key, now - window, now)
        assert row is not None  # an aggregate always yields one row
        return int(row[0]), row[1]

    async def reset(self, key: str) -> None:
        """Forget every failure recorded for ``key``."""
        await self._execute("DELETE FROM gatepass_throttle WHERE key = $1", key)

    # -- audit ------------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        """Append an event; the store assigns its ``id``."""
        e = event
        sql = (
            "INSERT INTO gatepass_audit "
            "(action, outcome, created_at, user_id, sid, ip, user_agent, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        await self._execute(
            sql, e.action, e.outcome, e.created_at, e.user_id, e.sid, e.ip, e.user_agent, e.detail
        )

    async def list_audit(self, *, user_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first (by ``created_at``, then insertion), optionally of one user."""
        if user_id is None:
            rows = await self._fetch(q.LIST_AUDIT, max(limit, 0))
        else:
            rows = await self._fetch(q.LIST_USER_AUDIT, user_id, max(limit, 0))
        return [AuditEvent(**dict(r)) for r in rows]

    # -- housekeeping -----------------------------------------------------------------

    async def purge_expired(self, now: float) -> int:
        """Drop records dead for longer than ``PURGE_MARGIN``; return how many.

        Counted: sessions, families, revocation-log entries and throttle hits (the
        live revocation sets and spent hashes go with them, uncounted).
        """
        cutoff = now - PURGE_MARGIN
        async with self._transaction() as c:
            removed = 0
            for sql in q.PURGES:
                removed += _status_count(await c.execute(sql, cutoff))
            await c.execute("DELETE FROM gatepass_revoked WHERE expires_at < $1", cutoff)
        return removed

    async def ping(self) -> None:
        """Raise :class:`~gatepass.errors.StoreUnavailable` unless ``SELECT 1`` answers."""
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1", timeout=PING_TIMEOUT)

    async def aclose(self) -> None:
        """Close the pool and the feed listener; every later call raises ``StoreUnavailable``.

        Waits up to ``command_timeout`` for operations in flight, then cuts them off.
        """
        self._closed = True
        pool, self._pool = self._pool, None
        listener, self._listener = self._listener, None
        self._wake_waiters()
        with anyio.move_on_after(self._command_timeout) as scope:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                if listener is not None:
                    await listener.close()
                if pool is not None:
                    await pool.close()
        if scope.cancelled_caught:
            if listener is not None:
                listener.terminate()
            if pool is not None:
                pool.terminate()
