"""An in-process store of plain dicts: for tests, demos and single-process throwaway use.

Every method runs without an ``await`` between reading and writing its state, so on
one event loop each method is atomic (asyncio and trio run one task at a time); this is
what makes ``rotate_refresh`` a compare-and-set here. Nothing survives the process.
Session ``data`` is kept as JSON text, so it behaves exactly as in the SQL backends
(JSON types only, and callers never share a mutable dict with the store).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from types import MappingProxyType

import anyio

from gatepass._utils import constant_time_equals
from gatepass.errors import NotFound, StoreConflict, StoreUnavailable
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

__all__ = ["MemoryStore"]


_NO_DATA: Mapping[str, object] = MappingProxyType({})


class MemoryStore:
    """Every record family in process memory (scheme ``memory``).

    Args:
        clock: The time source; used where a method takes no ``now`` (which
            families :meth:`revoke_user_families` counts as live).
    """

    scheme = "memory"

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._closed = False
        self._users: dict[str, UserRecord] = {}
        self._user_by_email: dict[str, str] = {}
        # id_hash -> (record with empty data, data as JSON text)
        self._sessions: dict[str, tuple[SessionRecord, str]] = {}
        self._session_by_sid: dict[str, str] = {}
        self._families: dict[str, FamilyRecord] = {}
        self._spent: dict[str, set[str]] = {}
        # (kind, value) -> expires_at, for jti and sid
        self._revoked: dict[tuple[str, str], float] = {}
        # user_id -> (not_before watermark, expires_at)
        self._watermarks: dict[str, tuple[float, float]] = {}
        self._log: list[RevocationEvent] = []
        self._seq = 0
        self._new_revocation = anyio.Event()
        self._keys: dict[str, KeyRecord] = {}
        self._hits: dict[str, list[float]] = {}
        self._audit: list[AuditEvent] = []
        self._audit_id = 0

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("memory: store is closed")

    # -- users ------------------------------------------------------------------

    async def create_user(self, user: UserRecord) -> None:
        """Insert a user; :class:`StoreConflict` if the id or the email exists."""
        self._check_open()
        if user.id in self._users or user.email in self._user_by_email:
            raise StoreConflict("memory: user exists")
        self._users[user.id] = user
        self._user_by_email[user.email] = user.id

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""
        self._check_open()
        return self._users.get(user_id)

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """The user with exactly this (normalised) email, or None."""
        self._check_open()
        user_id = self._user_by_email.get(email)
        return None if user_id is None else self._users[user_id]

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the password hash; :class:`NotFound` if the user is unknown."""
        self._replace_user(user_id, password_hash=password_hash)

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        """Set or clear the disabled flag; :class:`NotFound` if the user is unknown."""
        self._replace_user(user_id, disabled=disabled)

    def _replace_user(self, user_id: str, **changes: object) -> None:
        self._check_open()
        user = self._users.get(user_id)
        if user is None:
            raise NotFound("memory: no such user")
        self._users[user_id] = dataclasses.replace(user, **changes)  # type: ignore[arg-type]

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """Users ordered by ``created_at``, then ``id``."""
        self._check_open()
        ordered = sorted(self._users.values(), key=lambda u: (u.created_at, u.id))
        return ordered[max(offset, 0) : max(offset, 0) + max(limit, 0)]

    # -- sessions ---------------------------------------------------------------

    def _session(self, id_hash: str) -> SessionRecord | None:
        entry = self._sessions.get(id_hash)
        if entry is None:
            return None
        record, data = entry
        if data == "{}":  # the usual case: an immutable empty mapping can be shared
            return record
        return dataclasses.replace(record, data=load_session_data(data, "memory"))

    async def create_session(self, record: SessionRecord) -> None:
        """Insert; :class:`StoreConflict` if the id hash or the sid exists."""
        self._check_open()
        data = dump_session_data(record.data)
        if record.id_hash in self._sessions or record.sid in self._session_by_sid:
            raise StoreConflict("memory: session exists")
        # Reads hand out copies of the data (as a database would); sessions without data,
        # the usual case, share one immutable empty mapping instead.
        self._sessions[record.id_hash] = (dataclasses.replace(record, data=_NO_DATA), data)
        self._session_by_sid[record.sid] = record.id_hash

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """The stored record, even if expired, or None."""
        self._check_open()
        return self._session(id_hash)

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None:
        """The session with this public sid, or None."""
        self._check_open()
        id_hash = self._session_by_sid.get(sid)
        return None if id_hash is None else self._session(id_hash)

    async def touch_session(self, id_hash: str, last_seen_at: float) -> None:
        """Move ``last_seen_at`` forward (never backward); unknown ids are ignored."""
        self._check_open()
        entry = self._sessions.get(id_hash)
        if entry is not None and last_seen_at > entry[0].last_seen_at:
            record = dataclasses.replace(entry[0], last_seen_at=last_seen_at)
            self._sessions[id_hash] = (record, entry[1])

    async def rotate_session(self, old_hash: str, new_hash: str) -> bool:
        """Re-key a session; False if ``old_hash`` is unknown, conflict if ``new_hash`` exists."""
        self._check_open()
        entry = self._sessions.get(old_hash)
        if entry is None:
            return False
        if new_hash == old_hash:
            return True
        if new_hash in self._sessions:
            raise StoreConflict("memory: session exists")
        del self._sessions[old_hash]
        self._sessions[new_hash] = (dataclasses.replace(entry[0], id_hash=new_hash), entry[1])
        self._session_by_sid[entry[0].sid] = new_hash
        return True

    async def delete_session(self, id_hash: str) -> SessionRecord | None:
        """Delete and return the record (None if it was not there)."""
        self._check_open()
        record = self._session(id_hash)
        if record is not None:
            del self._sessions[id_hash]
            del self._session_by_sid[record.sid]
        return record

    async def delete_session_by_sid(self, sid: str) -> SessionRecord | None:
        """Delete and return the session with this sid (None if it was not there)."""
        self._check_open()
        id_hash = self._session_by_sid.get(sid)
        record = None if id_hash is None else self._session(id_hash)
        if record is not None:
            del self._sessions[record.id_hash]
            del self._session_by_sid[sid]
        return record

    def _user_sessions(self, user_id: str) -> list[SessionRecord]:
        found = [self._session(h) for h, (r, _) in self._sessions.items() if r.user_id == user_id]
        return sorted((r for r in found if r is not None), key=lambda r: (r.created_at, r.sid))

    async def list_user_sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """The user's sessions whose deadline lies after ``now``, oldest first."""
        self._check_open()
        return [r for r in self._user_sessions(user_id) if r.deadline() > now]

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """Delete every session of the user (live or not) and return them, oldest first."""
        self._check_open()
        records = self._user_sessions(user_id)
        for record in records:
            del self._sessions[record.id_hash]
            del self._session_by_sid[record.sid]
        return records

    # -- refresh-token families -------------------------------------------------

    async def create_family(self, record: FamilyRecord) -> None:
        """Insert; :class:`StoreConflict` if the family id exists."""
        self._check_open()
        if record.family_id in self._families:
            raise StoreConflict("memory: family exists")
        self._families[record.family_id] = record
        self._spent[record.family_id] = set()

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family, or None."""
        self._check_open()
        return self._families.get(family_id)

    async def rotate_refresh(
        self,
        family_id: str,
        presented_hash: str,
        new_hash: str,
        sealed_successor: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        """Compare-and-set rotation (see :class:`~gatepass.stores.base.RotationResult`)."""
        self._check_open()
        family = self._families.get(family_id)
        if family is None:
            return RotationResult("invalid")
        if now >= family.expires_at:
            return RotationResult("expired", family)
        if family.revoked:
            return RotationResult("revoked", family)
        if constant_time_equals(presented_hash, family.current_hash):
            rotated = dataclasses.replace(
                family,
                previous_hash=family.current_hash,
                current_hash=new_hash,
                sealed_successor=sealed_successor,
                rotated_at=now,
                generation=family.generation + 1,
                last_used_at=now,
            )
            self._families[family_id] = rotated
            self._spent[family_id].add(presented_hash)
            return RotationResult("rotated", rotated)
        if (
            grace > 0
            and family.previous_hash is not None
            and family.rotated_at is not None
            and constant_time_equals(presented_hash, family.previous_hash)
            and now - family.rotated_at <= grace
        ):
            return RotationResult("grace", family)
        if presented_hash in self._spent[family_id]:
            revoked = dataclasses.replace(family, revoked=True)
            self._families[family_id] = revoked
            return RotationResult("reused", revoked)
        return RotationResult("invalid")

    async def revoke_family(self, family_id: str) -> FamilyRecord | None:
        """Mark revoked; return the record as it was before (None if unknown)."""
        self._check_open()
        family = self._families.get(family_id)
        if family is not None:
            self._families[family_id] = dataclasses.replace(family, revoked=True)
        return family

    def _live_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        found = [
            f
            for f in self._families.values()
            if f.user_id == user_id and not f.revoked and now < f.expires_at
        ]
        return sorted(found, key=lambda f: (f.created_at, f.family_id))

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """The user's families neither revoked nor past ``expires_at``, oldest first."""
        self._check_open()
        return self._live_families(user_id, now)

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """Revoke the user's live families (per the store clock); return them, now revoked."""
        self._check_open()
        revoked = [
            dataclasses.replace(f, revoked=True)
            for f in self._live_families(user_id, self._clock())
        ]
        for family in revoked:
            self._families[family.family_id] = family
        return revoked

    # -- revocations ------------------------------------------------------------

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
        self._check_open()
        check_revocation_kind(kind)
        if kind == "user":
            not_before = now if not_before is None else not_before
            old_nb, old_exp = self._watermarks.get(value, (not_before, expires_at))
            self._watermarks[value] = (max(old_nb, not_before), max(old_exp, expires_at))
        else:
            key = (kind, value)
            self._revoked[key] = max(self._revoked.get(key, expires_at), expires_at)
        self._seq += 1
        event = RevocationEvent(self._seq, kind, value, expires_at, not_before, now)
        self._log.append(event)
        self._new_revocation.set()
        self._new_revocation = anyio.Event()
        return event

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """Direct check: jti or sid revoked, or ``iat`` below the user's watermark."""
        self._check_open()
        if jti is not None and ("jti", jti) in self._revoked:
            return True
        if sid is not None and ("sid", sid) in self._revoked:
            return True
        if user_id is not None and iat is not None:
            mark = self._watermarks.get(user_id)
            return mark is not None and iat < mark[0]
        return False

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """Log entries with ``seq`` greater than the given one, in order."""
        self._check_open()
        return [e for e in self._log if e.seq > seq][: max(limit, 0)]

    async def wait_revocations(
        self, after: int, max_wait: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """Entries after ``after``; waits (no polling) up to ``max_wait`` seconds for one."""
        events = await self.revocations_since(after, limit)
        if not events:
            with anyio.move_on_after(max_wait):
                await self._new_revocation.wait()
            events = await self.revocations_since(after, limit)
        return events

    # -- signing keys -----------------------------------------------------------

    async def add_key(self, record: KeyRecord) -> None:
        """Insert; :class:`StoreConflict` if the kid exists."""
        self._check_open()
        check_key_status(record.status)
        if record.kid in self._keys:
            raise StoreConflict("memory: key exists")
        self._keys[record.kid] = record

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first (insertion order breaks ties)."""
        self._check_open()
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    async def set_key_status(self, kid: str, status: KeyStatus) -> None:
        """Set a key's status; :class:`NotFound` if the kid is unknown."""
        self._check_open()
        check_key_status(status)
        key = self._keys.get(kid)
        if key is None:
            raise NotFound("memory: no such key")
        self._keys[kid] = dataclasses.replace(key, status=status)

    async def activate_key(self, kid: str) -> None:
        """Make ``kid`` the one active key; the former active keys become ``verify``."""
        self._check_open()
        if kid not in self._keys:
            raise NotFound("memory: no such key")
        for other in list(self._keys.values()):
            if other.kid != kid and other.status == "active":
                self._keys[other.kid] = dataclasses.replace(other, status="verify")
        self._keys[kid] = dataclasses.replace(self._keys[kid], status="active")

    # -- login throttling -------------------------------------------------------

    async def hit(self, key: str, now: float, window: float) -> int:
        """Record one failure; return failures within ``(now-window, now]``."""
        self._check_open()
        hits = [t for t in self._hits.get(key, ()) if t > now - window]
        hits.append(now)
        self._hits[key] = hits
        return sum(1 for t in hits if t <= now)

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """Failures within the window and the time of the oldest of them."""
        self._check_open()
        hits = [t for t in self._hits.get(key, ()) if now - window < t <= now]
        return len(hits), min(hits, default=None)

    async def reset(self, key: str) -> None:
        """Forget every failure recorded for ``key``."""
        self._check_open()
        self._hits.pop(key, None)

    # -- audit ------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        """Append an event; the store assigns its ``id``."""
        self._check_open()
        self._audit_id += 1
        self._audit.append(dataclasses.replace(event, id=self._audit_id))

    async def list_audit(self, *, user_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first (by ``created_at``, then insertion), optionally of one user."""
        self._check_open()
        found = [e for e in self._audit if user_id is None or e.user_id == user_id]
        found.sort(key=lambda e: (e.created_at, e.id or 0), reverse=True)
        return found[: max(limit, 0)]

    # -- housekeeping -----------------------------------------------------------

    async def purge_expired(self, now: float) -> int:
        """Drop records dead for longer than ``PURGE_MARGIN``; return how many.

        Counted: sessions, families, revocation-log entries and throttle hits (the
        live revocation sets and spent hashes go with them, uncounted).
        """
        self._check_open()
        cutoff = now - PURGE_MARGIN
        removed = 0
        for id_hash, (record, _) in list(self._sessions.items()):
            if record.deadline() < cutoff:
                del self._sessions[id_hash]
                del self._session_by_sid[record.sid]
                removed += 1
        for family_id, family in list(self._families.items()):
            if family.expires_at < cutoff:
                del self._families[family_id]
                del self._spent[family_id]
                removed += 1
        kept = [e for e in self._log if e.expires_at >= cutoff]
        removed += len(self._log) - len(kept)
        self._log = kept
        self._revoked = {k: exp for k, exp in self._revoked.items() if exp >= cutoff}
        self._watermarks = {u: m for u, m in self._watermarks.items() if m[1] >= cutoff}
        for key, hits in list(self._hits.items()):
            fresh = [t for t in hits if t > cutoff]
            removed += len(hits) - len(fresh)
            if fresh:
                self._hits[key] = fresh
            else:
                del self._hits[key]
        return removed

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` once the store is closed."""
        self._check_open()

    async def aclose(self) -> None:
        """Close the store: every later call raises :class:`StoreUnavailable`."""
        self._closed = True
