"""The embedded default store: one SQLite file, WAL, crash-safe, no server (scheme ``sqlite``).

Concurrency design:

- A **writer** connection used only from worker threads (``anyio.to_thread``), one
  call at a time (a ``threading.Lock``). Every write runs inside ``BEGIN IMMEDIATE ...
  COMMIT`` (rolled back on any error), so multi-statement operations such as
  ``rotate_refresh`` are atomic, also against *other processes* using the same file:
  the transaction, not the in-process lock, is what guarantees atomicity.
  ``synchronous=FULL``: a write that returned is on disk.
- A **reader** connection for single-row reads (``get_session``, ``get_user``,
  ``is_revoked``...) that runs directly on the event-loop thread: a primary-key
  lookup costs microseconds, and in WAL mode readers never wait for writers.
- Multi-row listings run in a worker thread on the writer connection.

The schema is created on first use (:meth:`SQLiteStore.open`, also run lazily by the
first operation); ``PRAGMA user_version`` records its version for future migrations.
Every ``sqlite3`` error is translated by :func:`~gatepass.stores.base.map_store_errors`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from gatepass.errors import ConfigurationError, NotFound, StoreUnavailable
from gatepass.stores import sqlite_sql as q
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
    map_store_errors,
)
from gatepass.types import Clock

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

T = TypeVar("T")
Row = Sequence[Any]

#: The schema version this module writes (``PRAGMA user_version``).
SCHEMA_VERSION = 1
#: How often the revocation feed polls the log for other processes' entries, seconds.
FEED_POLL_INTERVAL = 0.02
#: Bytes of the database file memory-mapped for reads: enough for every page of a store
#: with millions of sessions (SQLite caps it at its compile-time limit, 2 GiB - 64 KiB by
#: default). Only address space: the pages are the OS page cache's, shared and
#: reclaimable. Writes do not go through the map (they are written to the WAL).
MMAP_SIZE = 2 * 1024 * 1024 * 1024
#: How long a writer waits for another connection's write lock, in milliseconds.
BUSY_TIMEOUT_MS = 5000

# -- row <-> record ---------------------------------------------------------------


def _user(r: Row) -> UserRecord:
    return UserRecord(id=r[0], email=r[1], password_hash=r[2], created_at=r[3], disabled=bool(r[4]))


def _session(r: Row) -> SessionRecord:
    data = load_session_data(r[10], "sqlite")
    return SessionRecord(
        id_hash=r[0], sid=r[1], user_id=r[2], created_at=r[3], last_seen_at=r[4],
        expires_at=r[5], idle_ttl=r[6], csrf_secret=r[7], ip=r[8], user_agent=r[9], data=data,
    )  # fmt: skip


def _family(r: Row) -> FamilyRecord:
    return FamilyRecord(
        family_id=r[0], user_id=r[1], created_at=r[2], expires_at=r[3], current_hash=r[4],
        generation=r[5], previous_hash=r[6], rotated_at=r[7], sealed_successor=r[8],
        last_used_at=r[9], revoked=bool(r[10]), scope=r[11], audience=r[12], ip=r[13],
        user_agent=r[14], csrf_hash=r[15],
    )  # fmt: skip


def _event(r: Row) -> RevocationEvent:
    return RevocationEvent(
        seq=r[0], kind=r[1], value=r[2], expires_at=r[3], not_before=r[4], created_at=r[5]
    )


def _key(r: Row) -> KeyRecord:
    return KeyRecord(kid=r[0], alg=r[1], private_jwk=r[2], created_at=r[3], status=r[4])


def _audit(r: Row) -> AuditEvent:
    return AuditEvent(
        id=r[0], action=r[1], outcome=r[2], created_at=r[3], user_id=r[4], sid=r[5],
        ip=r[6], user_agent=r[7], detail=r[8],
    )  # fmt: skip


def _all(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> list[Any]:
    cur = conn.execute(sql, params)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def _first(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> Any:
    rows = _all(conn, sql, params)
    return rows[0] if rows else None


class SQLiteStore:
    """Every record family in one SQLite file.

    Args:
        path: The database file; created (with its schema) on first use. Its
            directory must exist.
        clock: The time source; used where a method takes no ``now`` (which
            families :meth:`revoke_user_families` counts as live).
    """

    scheme = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock = time.time) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._open_lock = threading.Lock()
        self._closed = False

    # -- connections --------------------------------------------------------------

    async def open(self) -> None:
        """Open the connections and create the schema if needed (idempotent).

        Raises:
            ConfigurationError: the directory is missing or the file has a newer schema.
            StoreUnavailable: the file cannot be opened, or the store was closed.
        """
        if self._reader is None:
            await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        with map_store_errors("sqlite"), self._open_lock:
            if self._closed:
                raise StoreUnavailable("sqlite: store is closed")
            if self._reader is not None:
                return
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                raise ConfigurationError("sqlite: the database directory does not exist")
            writer = self._connect()
            try:
                mode = _first(writer, "PRAGMA journal_mode = WAL")
                if mode is None or str(mode[0]).lower() != "wal":
                    raise StoreUnavailable("sqlite: cannot enable WAL journal mode")
                self._transaction(writer, self._migrate)
                reader = self._connect()
            except BaseException:
                writer.close()
                raise
            self._writer = writer
            self._reader = reader

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Map the file for reads: a page lookup is a memory read, not a pread() call
            # (with a 256 MiB map, a lookup in a 560 MiB file of 10^6 sessions made
            # 1.4 pread() calls on average).
            conn.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = int(_first(conn, "PRAGMA user_version")[0])
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"sqlite: schema version {version} is newer than this gatepass ({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            for statement in q.SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the original error matters more
                    conn.execute("ROLLBACK")
            raise
        return result

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with map_store_errors("sqlite"), self._wlock:
            if self._writer is None:
                raise StoreUnavailable("sqlite: store is closed")
            return self._transaction(self._writer, fn)

    def _list_sync(self, sql: str, params: Sequence[object]) -> list[Any]:
        with map_store_errors("sqlite"), self._wlock:
            if self._writer is None:
                raise StoreUnavailable("sqlite: store is closed")
            return _all(self._writer, sql, params)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction on a worker thread."""
        if self._reader is None:
            await self.open()
        return await anyio.to_thread.run_sync(self._write_sync, fn)

    async def _list(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """A multi-row read, on a worker thread."""
        if self._reader is None:
            await self.open()
        return await anyio.to_thread.run_sync(self._list_sync, sql, params)

    async def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """A small read on the reader connection, directly on the calling thread."""
        if self._reader is None:
            await self.open()
        with map_store_errors("sqlite"), self._rlock:
            if self._reader is None:
                raise StoreUnavailable("sqlite: store is closed")
            return _all(self._reader, sql, params)

    async def _read_first(self, sql: str, params: Sequence[object] = ()) -> Any:
        rows = await self._read(sql, params)
        return rows[0] if rows else None

    # -- users --------------------------------------------------------------------

    async def create_user(self, user: UserRecord) -> None:
        """Insert a user; :class:`~gatepass.errors.StoreConflict` if id or email exists."""
        params = (user.id, user.email, user.password_hash, user.created_at, user.disabled)
        await self._write(lambda c: c.execute(q.INSERT_USER, params).close())

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""
        row = await self._read_first(q.SELECT_USER, (user_id,))
        return None if row is None else _user(row)

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """The user with exactly this (normalised) email, or None."""
        row = await self._read_first(q.SELECT_USER_BY_EMAIL, (email,))
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the password hash; :class:`~gatepass.errors.NotFound` if unknown."""

        def tx(c: sqlite3.Connection) -> None:
            sql = "UPDATE users SET password_hash = ? WHERE id = ?"
            if c.execute(sql, (password_hash, user_id)).rowcount != 1:
                raise NotFound("sqlite: no such user")

        await self._write(tx)

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        """Set or clear the disabled flag; :class:`~gatepass.errors.NotFound` if unknown."""

        def tx(c: sqlite3.Connection) -> None:
            sql = "UPDATE users SET disabled = ? WHERE id = ?"
            if c.execute(sql, (int(disabled), user_id)).rowcount != 1:
                raise NotFound("sqlite: no such user")

        await self._write(tx)

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """Users ordered by ``created_at``, then ``id``."""
        rows = await self._list(q.LIST_USERS, (max(limit, 0), max(offset, 0)))
        return [_user(r) for r in rows]

    # -- sessions -----------------------------------------------------------------

    async def create_session(self, record: SessionRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the id hash or sid exists."""
        r = record
        params = (
            r.id_hash, r.sid, r.user_id, r.created_at, r.last_seen_at, r.expires_at,
            r.idle_ttl, r.csrf_secret, r.ip, r.user_agent, dump_session_data(r.data),
        )  # fmt: skip
        await self._write(lambda c: c.execute(q.INSERT_SESSION, params).close())

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """The stored record, even if expired, or None."""
        row = await self._read_first(q.SELECT_SESSION, (id_hash,))
        return None if row is None else _session(row)

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None:
        """The session with this public sid, or None."""
        row = await self._read_first(q.SELECT_SESSION_BY_SID, (sid,))
        return None if row is None else _session(row)

    async def touch_session(self, id_hash: str, last_seen_at: float) -> None:
        """Move ``last_seen_at`` forward (never backward); unknown ids are ignored."""
        sql = "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?"
        params = (last_seen_at, id_hash, last_seen_at)
        await self._write(lambda c: c.execute(sql, params).close())

    async def rotate_session(self, old_hash: str, new_hash: str) -> bool:
        """Re-key a session; False if ``old_hash`` is unknown, conflict if ``new_hash`` exists."""
        sql = "UPDATE sessions SET id_hash = ? WHERE id_hash = ?"
        return await self._write(lambda c: c.execute(sql, (new_hash, old_hash)).rowcount == 1)

    async def _delete_sessions(self, sql: str, value: str) -> list[SessionRecord]:
        rows = await self._write(lambda c: _all(c, sql, (value,)))
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
        return [_session(r) for r in await self._list(q.LIST_USER_SESSIONS, (user_id, now))]

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """Delete every session of the user (live or not) and return them, oldest first."""
        return await self._delete_sessions(q.DELETE_USER_SESSIONS, user_id)

    # -- refresh-token families ---------------------------------------------------

    async def create_family(self, record: FamilyRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the family id exists."""
        params = dataclasses.astuple(record)
        await self._write(lambda c: c.execute(q.INSERT_FAMILY, params).close())

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family, or None."""
        row = await self._read_first(q.SELECT_FAMILY, (family_id,))
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
        """Compare-and-set rotation in one transaction (see ``RotationResult``)."""

        def tx(c: sqlite3.Connection) -> RotationResult:
            row = _first(c, q.SELECT_FAMILY, (family_id,))
            if row is None:
                return RotationResult("invalid")
            family = _family(row)
            if now >= family.expires_at:
                return RotationResult("expired", family)
            if family.revoked:
                return RotationResult("revoked", family)
            if presented_hash == family.current_hash:
                params = (new_hash, sealed_successor, now, now, family_id, presented_hash)
                if c.execute(q.ROTATE_FAMILY, params).rowcount != 1:
                    # Impossible inside BEGIN IMMEDIATE; fail closed rather than guess.
                    raise StoreUnavailable("sqlite: concurrent rotation")
                sql = "INSERT OR IGNORE INTO spent_hashes (family_id, hash) VALUES (?, ?)"
                c.execute(sql, (family_id, presented_hash)).close()
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
                and family.rotated_at is not None
                and presented_hash == family.previous_hash
                and now - family.rotated_at <= grace
            ):
                return RotationResult("grace", family)
            spent = "SELECT 1 FROM spent_hashes WHERE family_id = ? AND hash = ?"
            if _first(c, spent, (family_id, presented_hash)) is not None:
                sql = "UPDATE families SET revoked = 1 WHERE family_id = ?"
                c.execute(sql, (family_id,)).close()
                return RotationResult("reused", dataclasses.replace(family, revoked=True))
            return RotationResult("invalid")

        return await self._write(tx)

    async def revoke_family(self, family_id: str) -> FamilyRecord | None:
        """Mark revoked; return the record as it was before (None if unknown)."""

        def tx(c: sqlite3.Connection) -> FamilyRecord | None:
            row = _first(c, q.SELECT_FAMILY, (family_id,))
            if row is None:
                return None
            c.execute("UPDATE families SET revoked = 1 WHERE family_id = ?", (family_id,)).close()
            return _family(row)

        return await self._write(tx)

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """The user's families neither revoked nor past ``expires_at``, oldest first."""
        return [_family(r) for r in await self._list(q.LIST_USER_FAMILIES, (user_id, now))]

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """Revoke the user's live families (per the store clock); return them, now revoked."""
        params = (user_id, self._clock())
        rows = await self._write(lambda c: _all(c, q.REVOKE_USER_FAMILIES, params))
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
        """Record a revocation in the live sets and append it to the log.

        For ``user``, a missing ``not_before`` means ``now``; the user's watermark
        only ever moves forward.
        """
        check_revocation_kind(kind)
        if kind == "user" and not_before is None:
            not_before = now
        live = (kind, value, expires_at, not_before if kind == "user" else None)
        logged = (kind, value, expires_at, not_before, now)

        def tx(c: sqlite3.Connection) -> RevocationEvent:
            c.execute(q.UPSERT_REVOKED, live).close()
            seq = c.execute(q.LOG_REVOCATION, logged).lastrowid
            if seq is None:  # pragma: no cover - an INSERT always sets it
                raise StoreUnavailable("sqlite: no sequence number")
            return RevocationEvent(seq, kind, value, expires_at, not_before, now)

        return await self._write(tx)

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """Direct check: jti or sid revoked, or ``iat`` below the user's watermark."""
        return await self._read_first(q.IS_REVOKED, (jti, sid, user_id, iat)) is not None

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """Log entries with ``seq`` greater than the given one, in order."""
        return [_event(r) for r in await self._read(q.REVOCATIONS_SINCE, (seq, max(limit, 0)))]

    async def wait_revocations(
        self, after: int, max_wait: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """Entries after ``after``, polling the log every :data:`FEED_POLL_INTERVAL` s.

        Other processes write to the same file, so polling (an indexed read of the
        log's tail on the reader connection) is how the feed sees their revocations.
        """
        deadline = time.monotonic() + max_wait
        while True:
            events = await self.revocations_since(after, limit)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            await anyio.sleep(min(FEED_POLL_INTERVAL, remaining))

    # -- signing keys -----------------------------------------------------------------

    async def add_key(self, record: KeyRecord) -> None:
        """Insert; :class:`~gatepass.errors.StoreConflict` if the kid exists."""
        check_key_status(record.status)
        r = record
        params = (r.kid, r.alg, r.private_jwk, r.created_at, r.status)
        await self._write(lambda c: c.execute(q.INSERT_KEY, params).close())

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first (insertion order breaks ties)."""
        return [_key(r) for r in await self._list(q.LIST_KEYS)]

    async def set_key_status(self, kid: str, status: KeyStatus) -> None:
        """Set a key's status; :class:`~gatepass.errors.NotFound` if the kid is unknown."""
        check_key_status(status)

        def tx(c: sqlite3.Connection) -> None:
            if c.execute("UPDATE keys SET status = ? WHERE kid = ?", (status, kid)).rowcount != 1:
                raise NotFound("sqlite: no such key")

        await self._write(tx)

    async def activate_key(self, kid: str) -> None:
        """Make ``kid`` the one active key; the former active keys become ``verify``."""

        def tx(c: sqlite3.Connection) -> None:
            if c.execute("UPDATE keys SET status = 'active' WHERE kid = ?", (kid,)).rowcount != 1:
                raise NotFound("sqlite: no such key")
            sql = "UPDATE keys SET status = 'verify' WHERE status = 'active' AND kid != ?"
            c.execute(sql, (kid,)).close()

        await self._write(tx)

    # -- login throttling -------------------------------------------------------------

    async def hit(self, key: str, now: float, window: float) -> int:
        """Record one failure; return failures within ``(now-window, now]``."""
        start = now - window

        def tx(c: sqlite3.Connection) -> int:
            c.execute("DELETE FROM throttle WHERE key = ? AND ts <= ?", (key, start)).close()
            c.execute("INSERT INTO throttle (key, ts) VALUES (?, ?)", (key, now)).close()
            return int(_first(c, q.THROTTLE_COUNT, (key, start, now))[0])

        return await self._write(tx)

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """Failures within the window and the time of the oldest of them."""
        row = await self._read_first(q.THROTTLE_COUNT, (key, now - window, now))
        return int(row[0]), row[1]

    async def reset(self, key: str) -> None:
        """Forget every failure recorded for ``key``."""
        await self._write(lambda c: c.execute("DELETE FROM throttle WHERE key = ?", (key,)).close())

    # -- audit ------------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        """Append an event; the store assigns its ``id``."""
        e = event
        params = (e.action, e.outcome, e.created_at, e.user_id, e.sid, e.ip, e.user_agent, e.detail)
        await self._write(lambda c: c.execute(q.INSERT_AUDIT, params).close())

    async def list_audit(self, *, user_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first (by ``created_at``, then insertion), optionally of one user."""
        if user_id is None:
            rows = await self._list(q.LIST_AUDIT, (max(limit, 0),))
        else:
            rows = await self._list(q.LIST_USER_AUDIT, (user_id, max(limit, 0)))
        return [_audit(r) for r in rows]

    # -- housekeeping -----------------------------------------------------------------

    async def purge_expired(self, now: float) -> int:
        """Drop records dead for longer than ``PURGE_MARGIN``; return how many.

        Counted: sessions, families, revocation-log entries and throttle hits (the
        live revocation sets and spent hashes go with them, uncounted).
        """
        cutoff = now - PURGE_MARGIN

        def tx(c: sqlite3.Connection) -> int:
            removed = sum(c.execute(sql, (cutoff,)).rowcount for sql in q.PURGES)
            c.execute("DELETE FROM revoked WHERE expires_at < ?", (cutoff,)).close()
            return removed

        return await self._write(tx)

    async def ping(self) -> None:
        """Raise :class:`~gatepass.errors.StoreUnavailable` unless the file answers."""
        await self._read("SELECT 1")

    async def aclose(self) -> None:
        """Close both connections; every later call raises ``StoreUnavailable``."""
        self._closed = True
        with map_store_errors("sqlite"), self._rlock:
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.close()
        await anyio.to_thread.run_sync(self._close_writer)

    def _close_writer(self) -> None:
        with map_store_errors("sqlite"), self._wlock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()
