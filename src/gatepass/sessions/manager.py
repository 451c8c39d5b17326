"""Server-side sessions: create, load (with both timeouts), rotate, destroy, list.

A session id is 256 bits from ``secrets`` sent to the browser once; the store only
ever sees its SHA-256. The public ``sid`` names the login in APIs and in the ``sid``
claim of tokens exchanged for it, so ending the session also revokes them.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gatepass._utils import hash_token, random_token
from gatepass.config import MAX_SESSION_CACHE_TTL, SessionSettings
from gatepass.errors import SessionExpired, SessionNotFound, StoreError
from gatepass.principal import CredentialSource, Principal
from gatepass.revocation import Revoker
from gatepass.stores.base import SessionRecord, SessionStore
from gatepass.types import Clock

__all__ = ["IssuedSession", "SessionManager", "session_principal"]

#: 32 random bytes as unpadded base64url: exactly 43 characters.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
#: How long every instance keeps a rotated-away id's retirement (seconds): longer than
#: any session cache may hold a read of it (MAX_SESSION_CACHE_TTL), with 5 minutes to
#: spare for the instances' clocks, which prune it, being apart.
_RETIRED_ID_TTL = MAX_SESSION_CACHE_TTL + 300
#: A cached read is kept between (1 - _TTL_JITTER) x cache_ttl and cache_ttl, at random:
#: sessions read together (after a restart) are not all read again in the same second.
_TTL_JITTER = 0.1


@functools.lru_cache(maxsize=4096)
def _id_hash(session_id: str) -> str | None:
    """The stored form (SHA-256) of a well-formed session id; None for a malformed one.

    Memoized for the per-request path (a pure function; at most 4,096 ids): a browser
    sends the same id on every request, so a repeat costs a dict lookup instead of a
    regex match and a hash. The ids stay in process memory, as the verified-token cache
    keeps tokens; a store only ever sees the hash.
    """
    return hash_token(session_id) if _SESSION_ID.fullmatch(session_id) else None


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new session: the secret id for the cookie and the stored record."""

    session_id: str = field(repr=False)
    record: SessionRecord


def session_principal(record: SessionRecord, source: CredentialSource) -> Principal:
    """The Principal of a live session."""
    return Principal(
        user_id=record.user_id,
        method="session",
        sid=record.sid,
        scopes=frozenset(),
        expires_at=record.deadline(),
        source=source,
        csrf_secret=record.csrf_secret,
    )


class _CachedSession:
    """A session in the local read cache: the record, until when it may be served, its
    Principal.

    ``stale_at`` (monotonic) is when the read must be made again: at most ``cache_ttl``
    after it was made. ``usable_until`` (wall clock) is the record's idle or absolute
    deadline, or when its ``last_seen_at`` write falls due if that is sooner;
    ``unrevoked_at`` is the RevocationSet.generation at which its sid was last found
    unrevoked (-1: never).
    """

    __slots__ = (
        "principal",
        "record",
        "stale_at",
        "unrevoked_at",
        "usable_until",
    )

    def __init__(self, record: SessionRecord, stale_at: float, settings: SessionSettings) -> None:
        self.record = record
        self.stale_at = stale_at
        self.usable_until = min(record.deadline(), record.last_seen_at + settings.touch_interval)
        self.principal: Principal | None = None
        self.unrevoked_at = -1


class SessionManager:
    """Session lifecycle over a :class:`~gatepass.stores.base.SessionStore`."""

    def __init__(
        self,
        store: SessionStore,
        revoker: Revoker,
        settings: SessionSettings | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._revoker = revoker
        self.settings = settings or SessionSettings()
        self._clock = clock
        #: session id -> the cached record (only while ``settings.cache_ttl`` > 0). Keyed
        #: by the id the cookie carries, as the id memo is: a hit needs no hash of it.
        self._cache: dict[str, _CachedSession] = {}
        #: When True, ``last_seen_at`` writes are queued and written by
        #: :meth:`flush_touches` (the Authenticator's background loop), off the request path.
        self.defer_touches = False
        self._pending_touches: dict[str, float] = {}

    async def create(
        self,
        user_id: str,
        *,
        replaces: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        data: Mapping[str, object] | None = None,
    ) -> IssuedSession:
        """Start a session with a fresh id; a session id sent with the login is ended.

        A presented id (``replaces``) is never reused, whoever it belongs to: that is
        what makes login fixation-safe.
        """
        if replaces is not None and _SESSION_ID.fullmatch(replaces):
            old = await self._store.get_session(hash_token(replaces))
            if old is not None:
                await self._revoke_sid(old)  # first: see destroy()
                await self._store.delete_session(old.id_hash)
        now = self._clock()
        session_id = random_token(32)
        record = SessionRecord(
            id_hash=hash_token(session_id),
            sid=random_token(16),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.settings.absolute_ttl,
            idle_ttl=self.settings.idle_ttl,
            csrf_secret=secrets.token_hex(32),
            ip=ip,
            user_agent=user_agent,
            data=dict(data or {}),
        )
        await self._store.create_session(record)
        return IssuedSession(session_id, record)

    async def load(self, session_id: str) -> SessionRecord:
        """The live session for this id, sliding its idle deadline.

        Raises:
            SessionNotFound: malformed or unknown id (never created on demand).
            SessionExpired: idle or absolute timeout passed; the record is deleted.
        """
        id_hash = _id_hash(session_id)
        if id_hash is None:
            raise SessionNotFound("malformed session id")
        return await self._load(session_id, id_hash)

    def cached_principal(self, session_id: str, source: CredentialSource) -> Principal | None:
        """The Principal of a local-cache hit that process memory alone vouches for.

        The feed healthy and the sid not revoked, within ``cache_ttl``, before the idle
        and absolute deadlines, and no ``last_seen_at`` write due. Never raises and never
        awaits: None means "ask :meth:`load_principal`".
        """
        entry = self._cache.get(session_id)  # only well-formed ids are ever cached
        if entry is None:
            return None
        principal = entry.principal
        feed = self._revoker.feed
        if principal is None or principal.source != source or feed is None:
            return None
        now = time.monotonic()
        if now > entry.stale_at or now > feed.trusted_until or self._clock() >= entry.usable_until:
            return None  # too old, the feed stale (not feed.healthy), or a deadline due
        revocations = feed.revocations
        if entry.unrevoked_at != revocations.generation:
            record = entry.record
            if revocations.session_revoked(
                record.id_hash, record.sid, record.user_id, record.created_at
            ):
                return None  # ended, or rotated to a new id (elsewhere): let _load decide
            entry.unrevoked_at = revocations.generation
        return principal

    async def load_principal(self, session_id: str, source: CredentialSource) -> Principal:
        """The Principal of the live session for this id: :meth:`load`, then the Principal.

        A local-cache hit that :meth:`cached_principal` would return is returned without
        awaiting anything; every other case takes the full :meth:`load`.
        """
        principal = self.cached_principal(session_id, source)
        if principal is not None:
            return principal
        id_hash = _id_hash(session_id)
        if id_hash is None:
            raise SessionNotFound("malformed session id")
        record = await self._load(session_id, id_hash)
        entry = self._cache.get(session_id)
        if entry is None or entry.record is not record:  # not cached
            return session_principal(record, source)
        if entry.principal is None or entry.principal.source != source:
            entry.principal = session_principal(record, source)
        return entry.principal

    async def _load(self, session_id: str, id_hash: str) -> SessionRecord:
        record = self._cached(session_id)
        now = self._clock()
        if record is not None and now >= record.deadline():
            record = None  # the cached copy may be stale: decide on the store's copy
        if record is None:
            record = await self._store.get_session(id_hash)
            if record is None or await self._ended(record):
                self._cache.pop(session_id, None)
                raise SessionNotFound("unknown session id")
        queued = self._pending_touches.get(id_hash)
        if queued is not None and queued > record.last_seen_at:
            record = replace(record, last_seen_at=queued)  # a touch not yet written
        if now >= record.expires_at or now >= record.idle_expires_at:
            reason = "absolute" if now >= record.expires_at else "idle"
            self._pending_touches.pop(id_hash, None)
            self._cache.pop(session_id, None)
            await self._store.delete_session(id_hash)
            await self._revoke_sid(record)
            raise SessionExpired(f"session passed its {reason} timeout", reason=reason)
        if now - record.last_seen_at >= self.settings.touch_interval:
            if self.defer_touches:
                self._pending_touches[id_hash] = now
            else:
                await self._store.touch_session(id_hash, now)
            record = replace(record, last_seen_at=now)
        self._remember(session_id, record)
        return record

    async def flush_touches(self) -> int:
        """Write the queued ``last_seen_at`` updates; return how many were written.

        Best effort: an update that fails is dropped (the session may then idle out up
        to one ``touch_interval`` early, which fails safe).
        """
        pending, self._pending_touches = self._pending_touches, {}
        written = 0
        for id_hash, last_seen in pending.items():
            with contextlib.suppress(StoreError):
                await self._store.touch_session(id_hash, last_seen)
                written += 1
        return written

    def _cached(self, session_id: str) -> SessionRecord | None:
        """A cached session, only while the feed is healthy, the sid not revoked and the
        id not retired by a rotation."""
        if self.settings.cache_ttl <= 0:
            return None
        entry = self._cache.get(session_id)
        if entry is None:
            return None
        record = entry.record
        revoked = self._revoker.session_revoked_now(
            record.id_hash, record.sid, record.user_id, record.created_at
        )
        if revoked is None:  # no healthy feed: the store decides
            return None
        if revoked or time.monotonic() > entry.stale_at:
            del self._cache[session_id]
            return None
        return record

    def _remember(self, session_id: str, record: SessionRecord) -> None:
        ttl = self.settings.cache_ttl
        if ttl <= 0:
            return
        entry = self._cache.get(session_id)
        if entry is not None and entry.record is record:
            return  # already cached (with its Principal)
        if entry is None:
            if len(self._cache) >= self.settings.cache_size:
                del self._cache[next(iter(self._cache))]
            jitter = _TTL_JITTER * secrets.randbelow(1024) / 1024  # only `secrets` here (S-02)
            stale_at = time.monotonic() + ttl * (1.0 - jitter)
        else:  # a touch moved the record on, or the entry could not be used: never later
            stale_at = entry.stale_at
        self._cache[session_id] = _CachedSession(record, stale_at, self.settings)

    async def rotate(self, session_id: str) -> str:
        """Give a live session a new secret id (after a privilege change); return it.

        The old id stops working everywhere: a ``session`` revocation (its hash) makes
        every instance's cache drop it when the feed brings the entry, as a logout does,
        and then the store forgets it. In that order: if the revocation cannot be
        written, the session keeps its old id (nothing is lost); a retirement whose
        rotation then fails only sends that id's reads to the store.
        """
        record = await self.load(session_id)
        new_id = random_token(32)
        until = min(record.expires_at, self._clock() + _RETIRED_ID_TTL)
        await self._revoker.retire_session_id(record.id_hash, expires_at=until)
        self._cache.pop(session_id, None)
        if not await self._store.rotate_session(record.id_hash, hash_token(new_id)):
            raise SessionNotFound("session ended during rotation")
        return new_id

    async def destroy(self, session_id: str) -> SessionRecord | None:
        """End the session with this secret id (logout); None if there was none.

        Its sid is revoked before the store forgets it, here and in :meth:`destroy_sid`
        and :meth:`destroy_user`: the revocation is what tells the other instances' session
        caches, so if it cannot be written the session is left as it was (the caller gets
        the error and may retry) rather than gone here and served from their caches.
        """
        id_hash = _id_hash(session_id)
        if id_hash is None:
            return None
        self._cache.pop(session_id, None)
        record = await self._store.get_session(id_hash)
        if record is None:
            return None
        await self._revoke_sid(record)
        await self._store.delete_session(id_hash)
        return record

    async def destroy_sid(self, sid: str) -> SessionRecord | None:
        """End the session with this public id; None if there was none."""
        record = await self._store.get_session_by_sid(sid)
        if record is None:
            return None
        await self._revoke_sid(record)
        await self._store.delete_session_by_sid(sid)
        return record

    async def destroy_user(self, user_id: str) -> list[SessionRecord]:
        """End every session of the user (sids revoked first, as in :meth:`destroy`; one
        created meanwhile is revoked once deleted)."""
        revoked: set[str] = set()
        for record in await self._store.list_user_sessions(user_id, self._clock()):
            await self._revoke_sid(record)
            revoked.add(record.sid)
        records = await self._store.delete_user_sessions(user_id)
        for record in records:
            if record.sid not in revoked:
                await self._revoke_sid(record)
        return records

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, oldest first."""
        listed = await self._store.list_user_sessions(user_id, self._clock())
        return [record for record in listed if not await self._ended(record)]

    async def get_by_sid(self, sid: str) -> SessionRecord | None:
        """The live session with this public id, or None."""
        record = await self._store.get_session_by_sid(sid)
        if record is None or record.deadline() <= self._clock() or await self._ended(record):
            return None
        return record

    async def _ended(self, record: SessionRecord) -> bool:
        """True if a session read from the store was ended by a revocation it missed.

        An ending made here revokes first and then deletes the record, but a revocation
        can land where the record is not deleted: the delete failed after it, or it was
        written by a process that does not reach this store. Its ``sid`` revoked, or the
        session begun before its user's "revoked before" watermark (logout everywhere,
        a disabled account: ``gatepass users disable`` without ``--redis`` reaches the
        revocations of a ``--redis`` server, not its sessions). Such a session is ended
        as :meth:`destroy` ends one, best effort (the revocation refuses it anyway): its
        sid revoked, so that tokens exchanged for it die too, then the record deleted.
        Answered from memory while the feed is healthy, else by the store (which fails
        closed, and compares the watermark's whole second: see
        :meth:`Revoker.session_ended_now`).
        """
        sid, user_id, created_at = record.sid, record.user_id, record.created_at
        revoked = self._revoker.session_ended_now(sid, user_id, created_at)
        if revoked is None:  # no healthy feed: the revocation store answers (whole seconds)
            revoked = await self._revoker.is_revoked(sid=sid, user_id=user_id, iat=created_at)
        if revoked:
            with contextlib.suppress(StoreError):
                await self._revoke_sid(record)
                await self._store.delete_session(record.id_hash)
        return revoked

    async def _revoke_sid(self, record: SessionRecord) -> None:
        # Tokens exchanged for this session carry its sid: refuse them at once. They
        # cannot outlive the session's absolute deadline, so neither must the entry.
        await self._revoker.revoke_sid(record.sid, expires_at=record.expires_at)
