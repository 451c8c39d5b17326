"""Two stores behind one: durable records in SQL, hot shared state in Redis (``--redis``).

:class:`SplitStore` routes each record family to one of two backends:

- ``fast`` (Redis): sessions and login-throttle counters: what every instance reads per
  request or must share at once, with native TTLs. Losing them fails closed (sessions
  end, counters restart).
- ``durable`` (SQLite / PostgreSQL): users, refresh-token families, signing keys, audit,
  **and revocations with their feed** (PostgreSQL LISTEN/NOTIFY, SQLite polling).

Revocations are the one record that must never be lost: a Redis restart without
persistence (or an eviction) would otherwise let a revoked credential through again,
leave every running instance's feed cursor ahead of the new log, and start new
instances without the old revocations. So they live in the durable store, whose feed is
as fast as Redis pub/sub for this purpose (milliseconds), and a Redis outage leaves
revocation checks untouched. (A ``RedisStore`` used alone, for a sessions-only
deployment, keeps its own revocations and pub/sub feed.)

It imports no backend: it receives two store objects (see
:func:`gatepass.stores.open_stores`). Every method delegates explicitly, so the type
checker sees the whole :class:`~gatepass.stores.base.Store` protocol.
"""

from __future__ import annotations

from gatepass.stores.base import (
    AuditEvent,
    FamilyRecord,
    KeyRecord,
    KeyStatus,
    RevocationEvent,
    RevocationKind,
    RotationResult,
    SessionRecord,
    Store,
    UserRecord,
)

__all__ = ["SplitStore"]


class SplitStore:
    """A :class:`~gatepass.stores.base.Store` made of a durable and a fast store.

    Args:
        durable: Holds users, refresh-token families, signing keys and audit events.
        fast: Holds sessions and throttle counters.
    """

    def __init__(self, durable: Store, fast: Store) -> None:
        self.durable = durable
        self.fast = fast
        self.scheme = f"{durable.scheme}+{fast.scheme}"

    # -- users (durable) ------------------------------------------------------------

    async def create_user(self, user: UserRecord) -> None:
        """See :meth:`UserStore.create_user`."""
        await self.durable.create_user(user)

    async def get_user(self, user_id: str) -> UserRecord | None:
        """See :meth:`UserStore.get_user`."""
        return await self.durable.get_user(user_id)

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """See :meth:`UserStore.get_user_by_email`."""
        return await self.durable.get_user_by_email(email)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """See :meth:`UserStore.set_password_hash`."""
        await self.durable.set_password_hash(user_id, password_hash)

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        """See :meth:`UserStore.set_user_disabled`."""
        await self.durable.set_user_disabled(user_id, disabled)

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """See :meth:`UserStore.list_users`."""
        return await self.durable.list_users(limit=limit, offset=offset)

    # -- sessions (fast) ------------------------------------------------------------

    async def create_session(self, record: SessionRecord) -> None:
        """See :meth:`SessionStore.create_session`."""
        await self.fast.create_session(record)

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """See :meth:`SessionStore.get_session`."""
        return await self.fast.get_session(id_hash)

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None:
        """See :meth:`SessionStore.get_session_by_sid`."""
        return await self.fast.get_session_by_sid(sid)

    async def touch_session(self, id_hash: str, last_seen_at: float) -> None:
        """See :meth:`SessionStore.touch_session`."""
        await self.fast.touch_session(id_hash, last_seen_at)

    async def rotate_session(self, old_hash: str, new_hash: str) -> bool:
        """See :meth:`SessionStore.rotate_session`."""
        return await self.fast.rotate_session(old_hash, new_hash)

    async def delete_session(self, id_hash: str) -> SessionRecord | None:
        """See :meth:`SessionStore.delete_session`."""
        return await self.fast.delete_session(id_hash)

    async def delete_session_by_sid(self, sid: str) -> SessionRecord | None:
        """See :meth:`SessionStore.delete_session_by_sid`."""
        return await self.fast.delete_session_by_sid(sid)

    async def list_user_sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """See :meth:`SessionStore.list_user_sessions`."""
        return await self.fast.list_user_sessions(user_id, now)

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """See :meth:`SessionStore.delete_user_sessions`."""
        return await self.fast.delete_user_sessions(user_id)

    # -- refresh-token families (durable) -------------------------------------------

    async def create_family(self, record: FamilyRecord) -> None:
        """See :meth:`RefreshStore.create_family`."""
        await self.durable.create_family(record)

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """See :meth:`RefreshStore.get_family`."""
        return await self.durable.get_family(family_id)

    async def rotate_refresh(
        self,
        family_id: str,
        presented_hash: str,
        new_hash: str,
        sealed_successor: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        """See :meth:`RefreshStore.rotate_refresh`."""
        return await self.durable.rotate_refresh(
            family_id, presented_hash, new_hash, sealed_successor, now, grace
        )

    async def revoke_family(self, family_id: str) -> FamilyRecord | None:
        """See :meth:`RefreshStore.revoke_family`."""
        return await self.durable.revoke_family(family_id)

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """See :meth:`RefreshStore.list_user_families`."""
        return await self.durable.list_user_families(user_id, now)

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """See :meth:`RefreshStore.revoke_user_families`."""
        return await self.durable.revoke_user_families(user_id)

    # -- revocations and the feed (durable) -------------------------------------------

    async def add_revocation(
        self,
        kind: RevocationKind,
        value: str,
        expires_at: float,
        now: float,
        not_before: float | None = None,
    ) -> RevocationEvent:
        """See :meth:`RevocationStore.add_revocation`."""
        return await self.durable.add_revocation(kind, value, expires_at, now, not_before)

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """See :meth:`RevocationStore.is_revoked`."""
        return await self.durable.is_revoked(jti=jti, sid=sid, user_id=user_id, iat=iat)

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """See :meth:`RevocationStore.revocations_since`."""
        return await self.durable.revocations_since(seq, limit)

    async def wait_revocations(
        self, after: int, max_wait: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """See :meth:`RevocationStore.wait_revocations`."""
        return await self.durable.wait_revocations(after, max_wait, limit)

    # -- signing keys (durable) -----------------------------------------------------

    async def add_key(self, record: KeyRecord) -> None:
        """See :meth:`KeyStore.add_key`."""
        await self.durable.add_key(record)

    async def list_keys(self) -> list[KeyRecord]:
        """See :meth:`KeyStore.list_keys`."""
        return await self.durable.list_keys()

    async def set_key_status(self, kid: str, status: KeyStatus) -> None:
        """See :meth:`KeyStore.set_key_status`."""
        await self.durable.set_key_status(kid, status)

    async def activate_key(self, kid: str) -> None:
        """See :meth:`KeyStore.activate_key`."""
        await self.durable.activate_key(kid)

    # -- login throttling (fast) ----------------------------------------------------

    async def hit(self, key: str, now: float, window: float) -> int:
        """See :meth:`ThrottleStore.hit`."""
        return await self.fast.hit(key, now, window)

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """See :meth:`ThrottleStore.count`."""
        return await self.fast.count(key, now, window)

    async def reset(self, key: str) -> None:
        """See :meth:`ThrottleStore.reset`."""
        await self.fast.reset(key)

    # -- audit (durable) ------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        """See :meth:`AuditStore.append_audit`."""
        await self.durable.append_audit(event)

    async def list_audit(self, *, user_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """See :meth:`AuditStore.list_audit`."""
        return await self.durable.list_audit(user_id=user_id, limit=limit)

    # -- housekeeping (both) --------------------------------------------------------

    async def purge_expired(self, now: float) -> int:
        """Purge both stores; return the total removed."""
        return await self.durable.purge_expired(now) + await self.fast.purge_expired(now)

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless both stores answer."""
        await self.durable.ping()
        await self.fast.ping()

    async def aclose(self) -> None:
        """Close both stores (the fast one even if closing the durable one fails)."""
        try:
            await self.durable.aclose()
        finally:
            await self.fast.aclose()
