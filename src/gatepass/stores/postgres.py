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
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
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
    ValidationError,
)
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
)
from gatepass.types import Clock

__all__ = ["CHANNEL", "MIGRATIONS", "PostgresStore"]

Row = Any  # an asyncpg.Record: indexable by position and by column name

#: The NOTIFY channel of the revocation feed (payload: the new ``seq``).
CHANNEL = "gatepass_revocations"
#: Advisory-lock class ids (first key of the two-key form; the second is the schema's hash).
_MIGRATION_LOCK = 0x6761_7465  # "gate"
_LOG_LOCK = 0x6C6F_6773  # "logs"
#: How long ``ping`` waits for ``SELECT 1``, seconds.
PING_TIMEOUT = 2.0
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_KINDS = frozenset({"jti", "sid", "user"})
_KEY_STATUSES = frozenset({"active", "verify", "retired"})

#: Ordered schema migrations; version n is ``MIGRATIONS[n - 1]``. Never edit a shipped
#: entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE gatepass_users (
        id text COLLATE "C" PRIMARY KEY,
        email text COLLATE "C" NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at double precision NOT NULL,
        disabled boolean NOT NULL DEFAULT false);
    CREATE INDEX gatepass_users_created ON gatepass_users (created_at, id);
    CREATE TABLE gatepass_sessions (
        id_hash text COLLATE "C" PRIMARY KEY,
        sid text COLLATE "C" NOT NULL UNIQUE,
        user_id text COLLATE "C" NOT NULL,
        created_at double precision NOT NULL,
        last_seen_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        idle_ttl double precision NOT NULL,
        csrf_secret text NOT NULL,
        ip text,
        user_agent text,
        data text NOT NULL DEFAULT '{}');
    CREATE INDEX gatepass_sessions_user ON gatepass_sessions (user_id, created_at);
    CREATE INDEX gatepass_sessions_deadline
        ON gatepass_sessions ((LEAST(expires_at, last_seen_at + idle_ttl)));
    CREATE TABLE gatepass_families (
        family_id text COLLATE "C" PRIMARY KEY,
        user_id text COLLATE "C" NOT NULL,
        created_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        current_hash text NOT NULL,
        generation bigint NOT NULL DEFAULT 0,
        previous_hash text,
        rotated_at double precision,
        sealed_successor text,
        last_used_at double precision,
        revoked boolean NOT NULL DEFAULT false,
        scope text NOT NULL DEFAULT '',
        audience text,
        ip text,
        user_agent text,
        csrf_hash text);
    CREATE INDEX gatepass_families_user ON gatepass_families (user_id, created_at);
    CREATE INDEX gatepass_families_expires ON gatepass_families (expires_at);
    CREATE TABLE gatepass_spent_hashes (
        family_id text COLLATE "C" NOT NULL
            REFERENCES gatepass_families (family_id) ON DELETE CASCADE,
        hash text COLLATE "C" NOT NULL,
        PRIMARY KEY (family_id, hash));
    CREATE TABLE gatepass_revoked (
        kind text COLLATE "C" NOT NULL CHECK (kind IN ('jti', 'sid', 'user')),
        value text COLLATE "C" NOT NULL,
        expires_at double precision NOT NULL,
        not_before double precision,
        PRIMARY KEY (kind, value));
    CREATE TABLE gatepass_revocation_log (
        seq bigserial PRIMARY KEY,
        kind text NOT NULL,
        value text NOT NULL,
        expires_at double precision NOT NULL,
        not_before double precision,
        created_at double precision NOT NULL);
    CREATE INDEX gatepass_revocation_log_expires ON gatepass_revocation_log (expires_at);
    CREATE TABLE gatepass_keys (
        seq bigserial PRIMARY KEY,
        kid text COLLATE "C" NOT NULL UNIQUE,
        alg text NOT NULL,
        private_jwk text NOT NULL,
        created_at double precision NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'verify', 'retired')));
    CREATE TABLE gatepass_throttle (
        id bigserial PRIMARY KEY,
        key text COLLATE "C" NOT NULL,
        ts double precision NOT NULL);
    CREATE INDEX gatepass_throttle_key ON gatepass_throttle (key, ts);
    CREATE INDEX gatepass_throttle_ts ON gatepass_throttle (ts);
    CREATE TABLE gatepass_audit (
        id bigserial PRIMARY KEY,
        action text NOT NULL,
        outcome text NOT NULL,
        created_at double precision NOT NULL,
        user_id text COLLATE "C",
        sid text,
        ip text,
        user_agent text,
        detail text);
    CREATE INDEX gatepass_audit_created ON gatepass_audit (created_at, id);
    CREATE INDEX gatepass_audit_user ON gatepass_audit (user_id, created_at, id);
    """,
)

_CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS gatepass_schema_migrations ("
    "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)
# Every statement is a complete literal with $n parameters: nothing is spliced into SQL.
_SELECT_USER = (
    "SELECT id, email, password_hash, created_at, disabled FROM gatepass_users WHERE id = $1"
)
_SELECT_USER_BY_EMAIL = (
    "SELECT id, email, password_hash, created_at, disabled FROM gatepass_users WHERE email = $1"
)
_LIST_USERS = (
    "SELECT id, email, password_hash, created_at, disabled FROM gatepass_users "
    "ORDER BY created_at, id LIMIT $1 OFFSET $2"
)
_INSERT_USER = (
    "INSERT INTO gatepass_users (id, email, password_hash, created_at, disabled) "
    "VALUES ($1, $2, $3, $4, $5)"
)
_INSERT_SESSION = (
    "INSERT INTO gatepass_sessions (id_hash, sid, user_id, created_at, last_seen_at, "
    "expires_at, idle_ttl, csrf_secret, ip, user_agent, data) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
_SELECT_SESSION = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM gatepass_sessions WHERE id_hash = $1"
)
_SELECT_SESSION_BY_SID = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM gatepass_sessions WHERE sid = $1"
)
_LIST_USER_SESSIONS = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM gatepass_sessions WHERE user_id = $1 "
    "AND LEAST(expires_at, last_seen_at + idle_ttl) > $2 ORDER BY created_at, sid"
)
_DELETE_SESSION = (
    "DELETE FROM gatepass_sessions WHERE id_hash = $1 RETURNING id_hash, sid, user_id, "
    "created_at, last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
_DELETE_SESSION_BY_SID = (
    "DELETE FROM gatepass_sessions WHERE sid = $1 RETURNING id_hash, sid, user_id, "
    "created_at, last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
_DELETE_USER_SESSIONS = (
    "DELETE FROM gatepass_sessions WHERE user_id = $1 RETURNING id_hash, sid, user_id, "
    "created_at, last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
_INSERT_FAMILY = (
    "INSERT INTO gatepass_families (family_id, user_id, created_at, expires_at, current_hash, "
    "generation, previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, "
    "audience, ip, user_agent, csrf_hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
)
_SELECT_FAMILY = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM gatepass_families WHERE family_id = $1"
)
_LOCK_FAMILY = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM gatepass_families WHERE family_id = $1 FOR UPDATE"
)
_LIST_USER_FAMILIES = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM gatepass_families WHERE user_id = $1 AND NOT revoked "
    "AND expires_at > $2 ORDER BY created_at, family_id"
)
_REVOKE_USER_FAMILIES = (
    "UPDATE gatepass_families SET revoked = true WHERE user_id = $1 AND NOT revoked "
    "AND expires_at > $2 RETURNING family_id, user_id, created_at, expires_at, current_hash, "
    "generation, previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, "
    "audience, ip, user_agent, csrf_hash"
)
_ROTATE_FAMILY = (
    "UPDATE gatepass_families SET previous_hash = current_hash, current_hash = $1, "
    "sealed_successor = $2, rotated_at = $3, generation = generation + 1, last_used_at = $3 "
    "WHERE family_id = $4 AND current_hash = $5 AND NOT revoked"
)
_IS_REVOKED = (
    "SELECT 1 FROM gatepass_revoked WHERE (kind = 'jti' AND value = $1) "
    "OR (kind = 'sid' AND value = $2) "
    "OR (kind = 'user' AND value = $3 AND not_before > $4) LIMIT 1"
)
_UPSERT_REVOKED = (
    "INSERT INTO gatepass_revoked (kind, value, expires_at, not_before) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (kind, value) DO UPDATE SET "
    "expires_at = GREATEST(gatepass_revoked.expires_at, excluded.expires_at), "
    "not_before = GREATEST(gatepass_revoked.not_before, excluded.not_before)"
)
_LOG_REVOCATION = (
    "INSERT INTO gatepass_revocation_log (kind, value, expires_at, not_before, created_at) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING seq"
)
_REVOCATIONS_SINCE = (
    "SELECT seq, kind, value, expires_at, not_before, created_at FROM gatepass_revocation_log "
    "WHERE seq > $1 ORDER BY seq LIMIT $2"
)
_LIST_AUDIT = (
    "SELECT id, action, outcome, created_at, user_id, sid, ip, user_agent, detail "
    "FROM gatepass_audit ORDER BY created_at DESC, id DESC LIMIT $1"
)
_LIST_USER_AUDIT = (
    "SELECT id, action, outcome, created_at, user_id, sid, ip, user_agent, detail "
    "FROM gatepass_audit WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
)
_THROTTLE_COUNT = (
    "SELECT count(*), min(ts) FROM gatepass_throttle WHERE key = $1 AND ts > $2 AND ts <= $3"
)
#: Purges whose deleted rows ``purge_expired`` counts (spent hashes go by cascade).
_PURGES = (
    "DELETE FROM gatepass_sessions WHERE LEAST(expires_at, last_seen_at + idle_ttl) < $1",
    "DELETE FROM gatepass_families WHERE expires_at < $1",
    "DELETE FROM gatepass_revocation_log WHERE expires_at < $1",
    "DELETE FROM gatepass_throttle WHERE ts <= $1",
)


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


def _dump_data(data: Mapping[str, object]) -> str:
    try:
        return json.dumps(dict(data), separators=(",", ":"), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValidationError("session data must be JSON-serialisable", field="data") from exc


def _session(r: Row) -> SessionRecord:
    try:
        data = json.loads(r["data"])
    except ValueError as exc:
        raise StoreUnavailable("postgres: corrupt session data") from exc
    if not isinstance(data, dict):
        raise StoreUnavailable("postgres: corrupt session data")
    return SessionRecord(**{**dict(r), "data": data})


def _family(r: Row) -> FamilyRecord:
    return FamilyRecord(**dict(r))


def _check_status(status: str) -> None:
    if status not in _KEY_STATUSES:
        raise ValidationError(f"unknown key status {status!r}", field="status")


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
            await conn.execute(_CREATE_MIGRATIONS)
            rows = await conn.fetch("SELECT version FROM gatepass_schema_migrations")
            applied = {int(r[0]) for r in rows}
            if applied and max(applied) > len(MIGRATIONS):
                raise ConfigurationError(
                    f"postgres: schema version {max(applied)} is newer than this gatepass "
                    f"({len(MIGRATIONS)})"
                )
            for version, script in enumerate(MIGRATIONS, start=1):
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
        await self._execute(_INSERT_USER, u.id, u.email, u.password_hash, u.created_at, u.disabled)

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""
        row = await self._fetchrow(_SELECT_USER, user_id)
        return None if row is None else UserRecord(**dict(row))

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """The user with exactly this (normalised) email, or None."""
        row = await self._fetchrow(_SELECT_USER_BY_EMAIL, email)
        return None if row is None else UserRecord(**dict(row))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the password hash; :class:`~gatepass.errors.NotFound` if unknown."""
        sql = "UPDATE gatepass_users SET password_hash = $1 WHERE id = $2"
        if await self._execute(sql, password_hash, user_id) != 1:
            raise NotFound("postgres: no such user")

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """Users ordered by ``created_at``, then ``id``."""
        rows = await self._fetch(_LIST_USERS, max(limit, 0), max(offset, 0))
        return [UserRecord(**dict(r)) for r in rows]

    # -- sessions -----------------------------------------------------------------

    async def create_session(self, record: SessionRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the id hash or sid exists."""
        r = record
        await self._execute(
            _INSERT_SESSION, r.id_hash, r.sid, r.user_id, r.created_at, r.last_seen_at,
            r.expires_at, r.idle_ttl, r.csrf_secret, r.ip, r.user_agent, _dump_data(r.data),
        )  # fmt: skip

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """The stored record, even if expired, or None."""
        row = await self._fetchrow(_SELECT_SESSION, id_hash)
        return None if row is None else _session(row)

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None:
        """The session with this public sid, or None."""
        row = await self._fetchrow(_SELECT_SESSION_BY_SID, sid)
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
        deleted = await self._delete_sessions(_DELETE_SESSION, id_hash)
        return deleted[0] if deleted else None

    async def delete_session_by_sid(self, sid: str) -> SessionRecord | None:
        """Delete and return the session with this sid (None if it was not there)."""
        deleted = await self._delete_sessions(_DELETE_SESSION_BY_SID, sid)
        return deleted[0] if deleted else None

    async def list_user_sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """The user's sessions whose deadline lies after ``now``, oldest first."""
        return [_session(r) for r in await self._fetch(_LIST_USER_SESSIONS, user_id, now)]

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """Delete every session of the user (live or not) in one statement; oldest first."""
        return await self._delete_sessions(_DELETE_USER_SESSIONS, user_id)

    # -- refresh-token families ---------------------------------------------------

    async def create_family(self, record: FamilyRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the family id exists."""
        await self._execute(_INSERT_FAMILY, *dataclasses.astuple(record))

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family, or None."""
        row = await self._fetchrow(_SELECT_FAMILY, family_id)
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
            row = await c.fetchrow(_LOCK_FAMILY, family_id)
            if row is None:
                return RotationResult("invalid")
            family = _family(row)
            if now >= family.expires_at:
                return RotationResult("expired", family)
            if family.revoked:
                return RotationResult("revoked", family)
            if constant_time_equals(presented_hash, family.current_hash):
                status = await c.execute(
                    _ROTATE_FAMILY, new_hash, sealed_successor, now, family_id, presented_hash
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
            row = await c.fetchrow(_LOCK_FAMILY, family_id)
            if row is None:
                return None
            sql = "UPDATE gatepass_families SET revoked = true WHERE family_id = $1"
            await c.execute(sql, family_id)
            return _family(row)

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """The user's families neither revoked nor past ``expires_at``, oldest first."""
        return [_family(r) for r in await self._fetch(_LIST_USER_FAMILIES, user_id, now)]

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """Revoke the user's live families (per the store clock) in one statement."""
        rows = await self._fetch(_REVOKE_USER_FAMILIES, user_id, self._clock())
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
        if kind not in _KINDS:
            raise ValidationError(f"unknown revocation kind {kind!r}", field="kind")
        if kind == "user" and not_before is None:
            not_before = now
        async with self._transaction() as c:
            await c.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", _LOG_LOCK
            )
            live_not_before = not_before if kind == "user" else None
            await c.execute(_UPSERT_REVOKED, kind, value, expires_at, live_not_before)
            seq = await c.fetchval(_LOG_REVOCATION, kind, value, expires_at, not_before, now)
            await c.execute("SELECT pg_notify($1, $2)", CHANNEL, str(seq))
        return RevocationEvent(int(seq), kind, value, expires_at, not_before, now)

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """Direct check: jti or sid revoked, or ``iat`` below the user's watermark."""
        return await self._fetchrow(_IS_REVOKED, jti, sid, user_id, iat) is not None

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """Log entries with ``seq`` greater than the given one, in order."""
        rows = await self._fetch(_REVOCATIONS_SINCE, seq, max(limit, 0))
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
                        _REVOCATIONS_SINCE, after, max(limit, 0), timeout=self._command_timeout
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
        _check_status(record.status)
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
        _check_status(status)
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
            row = await c.fetchrow(_THROTTLE_COUNT, key, start, now)
        return int(row[0])

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """Failures within the window and the time of the oldest of them."""
        row = await self._fetchrow(_THROTTLE_COUNT, key, now - window, now)
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
            rows = await self._fetch(_LIST_AUDIT, max(limit, 0))
        else:
            rows = await self._fetch(_LIST_USER_AUDIT, user_id, max(limit, 0))
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
            for sql in _PURGES:
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
