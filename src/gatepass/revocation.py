"""Revocation: by ``jti``, by ``sid`` (a session or a token family) and per user.

A fourth kind, ``session``, names a session id retired by rotation (its stored hash):
the login lives on under its new id, and every instance's session cache drops the old
one as soon as the feed brings the entry.

The :class:`Revoker` is the one place both columns record and check revocations, so a
logout in one column reaches credentials of the other (a session's exchanged JWTs
carry its ``sid``). Every verification calls :meth:`Revoker.is_revoked`.

Checks come from process memory while the revocation feed is healthy: a
:class:`RevocationFeed` keeps a :class:`RevocationSet` current by following the
store's log (:meth:`~gatepass.stores.base.RevocationStore.wait_revocations`: Redis
pub/sub, PostgreSQL LISTEN/NOTIFY, SQLite polling). When the feed has not been heard
from for longer than its staleness bound, checks go to the store directly, and when
the store is down too they raise :class:`~gatepass.errors.StoreUnavailable` (fail
closed). Nothing is ever let through because a check could not be made.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterable

import anyio

from gatepass.errors import ConfigurationError, StoreError
from gatepass.stores.base import RevocationEvent, RevocationStore
from gatepass.types import Clock

__all__ = ["RevocationFeed", "RevocationSet", "Revoker"]

logger = logging.getLogger("gatepass.revocation")
_GENERATIONS = itertools.count(1)


class RevocationSet:
    """An in-memory mirror of the live revocations (jti, sid, user watermarks, and the
    hashes of session ids retired by rotation)."""

    def __init__(self) -> None:
        self._jti: dict[str, float] = {}
        self._sid: dict[str, float] = {}
        #: user -> (not_before: tokens with an earlier ``iat`` are revoked, at: sessions
        #: begun earlier are, expires_at). ``iat`` is in whole seconds, so ``not_before``
        #: is the watermark's second (a token issued in that second lives on); a
        #: session's start is precise, and so is ``at`` (the log entry's time; its
        #: ``not_before`` if the entry came without one).
        self._users: dict[str, tuple[float, float, float]] = {}
        self._session_ids: dict[str, float] = {}
        #: The last log position applied from the feed (local writes do not move it).
        self.seq = 0
        #: Changes with every :meth:`apply`: a credential found unrevoked when this was
        #: ``g`` is still unrevoked while it is ``g`` (what lets caches skip the lookups).
        #: Drawn from one process-wide counter, so no two sets ever share a value.
        self.generation = next(_GENERATIONS)

    def __len__(self) -> int:
        return len(self._jti) + len(self._sid) + len(self._users) + len(self._session_ids)

    def apply(self, event: RevocationEvent) -> None:
        """Add one revocation (idempotent; entries only ever widen)."""
        self.generation = next(_GENERATIONS)
        if event.kind == "jti":
            self._jti[event.value] = max(self._jti.get(event.value, 0.0), event.expires_at)
        elif event.kind == "sid":
            self._sid[event.value] = max(self._sid.get(event.value, 0.0), event.expires_at)
        elif event.kind == "user":
            not_before = event.not_before if event.not_before is not None else event.created_at
            at = max(not_before, event.created_at)
            old = self._users.get(event.value, (-math.inf, -math.inf, 0.0))
            self._users[event.value] = (
                max(old[0], not_before),
                max(old[1], at),
                max(old[2], event.expires_at),
            )
        elif event.kind == "session":
            old_exp = self._session_ids.get(event.value, 0.0)
            self._session_ids[event.value] = max(old_exp, event.expires_at)

    def apply_feed(self, events: Iterable[RevocationEvent]) -> None:
        """Apply events from the feed, in log order, advancing :attr:`seq`."""
        for event in events:
            self.apply(event)
            self.seq = max(self.seq, event.seq)

    def is_revoked(
        self, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """The same answer as the store's direct check, from memory."""
        if jti is not None and jti in self._jti:
            return True
        if sid is not None and sid in self._sid:
            return True
        if user_id is not None and iat is not None:
            mark = self._users.get(user_id)
            return mark is not None and iat < mark[0]
        return False

    def session_revoked(self, id_hash: str, sid: str, user_id: str, created_at: float) -> bool:
        """True if a session read must not be served from a cache: its login's ``sid`` is
        revoked, its id (this stored hash) was retired by a rotation, or it began before
        its user's "revoked before" watermark (logout everywhere, a disabled account)."""
        return id_hash in self._session_ids or self.session_ended(sid, user_id, created_at)

    def session_ended(self, sid: str, user_id: str, created_at: float) -> bool:
        """True if a session's login was ended: its ``sid`` is revoked, or it began before
        its user's "revoked before" watermark. (Unlike :meth:`session_revoked`, not an id
        retired by a rotation: the store holds the session under its new id.)"""
        if sid in self._sid:
            return True
        mark = self._users.get(user_id)
        return mark is not None and created_at < mark[1]

    def prune(self, now: float) -> int:
        """Forget entries whose credentials have expired anyway; return how many."""
        before = len(self)
        self._jti = {k: v for k, v in self._jti.items() if v > now}
        self._sid = {k: v for k, v in self._sid.items() if v > now}
        self._users = {k: v for k, v in self._users.items() if v[2] > now}
        self._session_ids = {k: v for k, v in self._session_ids.items() if v > now}
        return before - len(self)


class RevocationFeed:
    """Follows the store's revocation log into a :class:`RevocationSet`.

    Args:
        store: the store whose log to follow.
        revocations: the set to keep current.
        staleness: seconds without a successful feed round after which the set is
            no longer trusted (checks then go to the store).
        max_wait: how long one feed round may wait for news (must be < staleness).
        clock: wall clock, for pruning expired entries.
    """

    def __init__(
        self,
        store: RevocationStore,
        revocations: RevocationSet,
        *,
        staleness: float = 2.0,
        max_wait: float = 0.5,
        clock: Clock = time.time,
    ) -> None:
        if not 0 < max_wait < staleness:
            raise ConfigurationError("max_wait must be positive and below staleness")
        self._store = store
        self.revocations = revocations
        self.max_wait = max_wait
        self._clock = clock
        self._heard_at = -math.inf  # time.monotonic() of the last successful round
        self._staleness = staleness
        #: ``time.monotonic()`` up to which the set is trusted (-inf before the first
        #: round): the health check of every request is one comparison with it.
        self.trusted_until = -math.inf
        #: Feed rounds that failed with a store error (for metrics).
        self.errors = 0

    @property
    def staleness(self) -> float:
        """Seconds after the last successful round during which the set is trusted."""
        return self._staleness

    @staleness.setter
    def staleness(self, value: float) -> None:
        self._staleness = value
        self.trusted_until = self._heard_at + value

    @property
    def healthy(self) -> bool:
        """True while the set is known to be current within the staleness bound."""
        return time.monotonic() <= self.trusted_until

    @property
    def lag(self) -> float:
        """Seconds since the feed was last heard from (inf before the first round)."""
        return time.monotonic() - self._heard_at

    async def sync_once(self, max_wait: float = 0.0) -> int:
        """One feed round: apply every entry after the set's position; return how many."""
        applied = 0
        while True:
            events = await self._store.wait_revocations(self.revocations.seq, max_wait)
            self.revocations.apply_feed(events)
            applied += len(events)
            if len(events) < 1000:
                break
            max_wait = 0.0
        self._heard_at = time.monotonic()
        self.trusted_until = self._heard_at + self._staleness
        return applied

    async def run(self) -> None:
        """Follow the feed until cancelled; reconnect with backoff on store errors."""
        backoff = 0.05
        last_prune = time.monotonic()
        while True:
            try:
                await self.sync_once(self.max_wait)
                backoff = 0.05
            except StoreError as exc:
                self.errors += 1
                logger.warning("revocation feed interrupted: %s", exc.code)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            if time.monotonic() - last_prune > 60:
                self.revocations.prune(self._clock())
                last_prune = time.monotonic()


class Revoker:
    """Records and checks revocations in a :class:`~gatepass.stores.base.RevocationStore`.

    Args:
        store: where revocations live (shared by every instance of a deployment).
        clock: the time source.
        feed: when given and healthy, checks are answered from its in-memory set
            (no I/O); otherwise they go to the store (and fail closed if it is down).
    """

    def __init__(
        self,
        store: RevocationStore,
        *,
        clock: Clock = time.time,
        feed: RevocationFeed | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.feed = feed

    async def _record(self, event: RevocationEvent) -> RevocationEvent:
        if self.feed is not None:
            self.feed.revocations.apply(event)  # our own writes count at once, here
        return event

    async def revoke_jti(self, jti: str, *, expires_at: float) -> RevocationEvent:
        """Refuse the one access token with this ``jti`` until it would expire anyway."""
        return await self._record(
            await self._store.add_revocation("jti", jti, expires_at, self._clock())
        )

    async def revoke_sid(self, sid: str, *, expires_at: float) -> RevocationEvent:
        """Refuse every credential of the login ``sid`` (session or token family)."""
        return await self._record(
            await self._store.add_revocation("sid", sid, expires_at, self._clock())
        )

    async def retire_session_id(self, id_hash: str, *, expires_at: float) -> RevocationEvent:
        """Tell every instance's session cache that the id with this hash was rotated away.

        The entry is for the caches that may hold the old id (the store forgets it when
        the session moves to its new id); ``expires_at``: when no cache can hold a read
        of it any more.
        """
        return await self._record(
            await self._store.add_revocation("session", id_hash, expires_at, self._clock())
        )

    async def revoke_user(self, user_id: str, *, expires_at: float) -> RevocationEvent:
        """Refuse every token of the user issued, and every session of theirs begun, before
        now (a "revoked before" watermark).

        ``expires_at`` is how long the watermark must be kept: the longest lifetime of
        any credential it covers.
        """
        now = self._clock()
        return await self._record(
            await self._store.add_revocation(
                "user", user_id, expires_at, now, not_before=float(int(now))
            )
        )

    def revoked_now(
        self, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool | None:
        """The answer of :meth:`is_revoked` if process memory can give it, else None.

        Synchronous (no I/O, no coroutine): the check of a cache hit that the caches'
        generation stamps could not vouch for. None means the feed is stale or absent,
        so the caller must ask the store (await :meth:`is_revoked`, which fails closed
        if the store is down).
        """
        feed = self.feed
        if feed is None or not feed.healthy:
            return None
        return feed.revocations.is_revoked(jti, sid, user_id, iat)

    def session_revoked_now(
        self, id_hash: str, sid: str, user_id: str, created_at: float
    ) -> bool | None:
        """Whether a cached session must be dropped (see
        :meth:`RevocationSet.session_revoked`), if process memory can tell; None as for
        :meth:`revoked_now`."""
        feed = self.feed
        if feed is None or not feed.healthy:
            return None
        return feed.revocations.session_revoked(id_hash, sid, user_id, created_at)

    def session_ended_now(self, sid: str, user_id: str, created_at: float) -> bool | None:
        """:meth:`RevocationSet.session_ended` if process memory can tell; None as for
        :meth:`revoked_now` (the store then answers :meth:`is_revoked` with the session's
        start as ``iat``, which compares the watermark's whole second)."""
        feed = self.feed
        if feed is None or not feed.healthy:
            return None
        return feed.revocations.session_ended(sid, user_id, created_at)

    async def is_revoked(
        self,
        *,
        jti: str | None = None,
        sid: str | None = None,
        user_id: str | None = None,
        iat: float | None = None,
    ) -> bool:
        """True if the jti or the sid is revoked, or ``iat`` is below the user's watermark.

        Answered from memory while the feed is healthy; otherwise by the store.

        Raises:
            StoreUnavailable: the feed is stale and the store cannot be reached.
        """
        if self.feed is not None and self.feed.healthy:
            return self.feed.revocations.is_revoked(jti=jti, sid=sid, user_id=user_id, iat=iat)
        return await self._store.is_revoked(jti=jti, sid=sid, user_id=user_id, iat=iat)
