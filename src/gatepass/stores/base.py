"""The record families every store backend implements, as small Protocols.

A backend is one object implementing :class:`Store` (all families). Every secret
(session id, refresh-token secret) reaches a store only as its SHA-256 hex digest;
stores never see raw credentials. Expiry is *stored and checked on read* by the
callers with an injected clock; a backend's native expiry (TTL, purge) is only
garbage collection, run with a margin, so the same expiry tests pass everywhere.

Writes that must be atomic are single methods here (``rotate_refresh``,
``revoke_family``, ``rotate_session``), so each backend can make them atomic with
its own primitive (a lock, a transaction, a Lua script).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args, runtime_checkable

from gatepass.errors import StoreConflict, StoreError, StoreUnavailable, ValidationError

__all__ = [
    "KEY_STATUSES",
    "REVOCATION_KINDS",
    "AuditEvent",
    "AuditStore",
    "FamilyRecord",
    "KeyRecord",
    "KeyStatus",
    "KeyStore",
    "RefreshStore",
    "RevocationEvent",
    "RevocationKind",
    "RevocationStore",
    "RotateStatus",
    "RotationResult",
    "SessionRecord",
    "SessionStore",
    "Store",
    "ThrottleStore",
    "UserRecord",
    "UserStore",
    "check_key_status",
    "check_revocation_kind",
    "dump_session_data",
    "load_session_data",
    "map_store_errors",
]

#: Records and revocations are kept this long past their expiry before a purge may drop
#: them, so a just-expired credential still reads as "expired", not "unknown".
PURGE_MARGIN = 24 * 3600


# -- records ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user account. ``email`` is stored normalised (stripped, lower-cased)."""

    id: str
    email: str
    password_hash: str
    created_at: float
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A server-side session, found by ``id_hash`` (SHA-256 of the cookie secret).

    ``sid`` is the public, non-secret id of the login (shown in APIs, put in the
    ``sid`` claim of tokens exchanged for this session).
    """

    id_hash: str
    sid: str
    user_id: str
    created_at: float
    last_seen_at: float
    #: Absolute deadline: created_at + absolute TTL.
    expires_at: float
    #: Idle timeout in seconds: the session dies at last_seen_at + idle_ttl.
    idle_ttl: float
    #: Secret bound to the session from which CSRF tokens are derived (hex).
    csrf_secret: str
    ip: str | None = None
    user_agent: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)

    @property
    def idle_expires_at(self) -> float:
        """When the session dies if it is not used again."""
        return self.last_seen_at + self.idle_ttl

    def deadline(self) -> float:
        """The earlier of the idle and the absolute deadline."""
        return min(self.expires_at, self.idle_expires_at)


@dataclass(frozen=True, slots=True)
class FamilyRecord:
    """A refresh-token family: one token login (its ``family_id`` is the login's sid)."""

    family_id: str
    user_id: str
    created_at: float
    #: Absolute lifetime of the family; no rotation extends it.
    expires_at: float
    #: SHA-256 hex of the one live refresh secret.
    current_hash: str
    #: How many rotations have happened.
    generation: int = 0
    #: SHA-256 hex of the secret spent by the last rotation (for the grace window).
    previous_hash: str | None = None
    #: When the last rotation happened.
    rotated_at: float | None = None
    #: The live successor sealed with a key derived from the previous secret, so a
    #: retry within the grace window gets the same successor (see tokens.refresh).
    sealed_successor: str | None = None
    last_used_at: float | None = None
    revoked: bool = False
    scope: str = ""
    audience: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    #: SHA-256 hex of the CSRF token bound to a cookie-transport login (None for Bearer).
    csrf_hash: str | None = None


RotateStatus = Literal["rotated", "grace", "reused", "invalid", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class RotationResult:
    """The outcome of :meth:`RefreshStore.rotate_refresh`.

    - ``rotated``: the presented secret was current; it is now spent.
    - ``grace``: it was spent by the last rotation within the grace window; the
      family is unchanged and ``family.sealed_successor`` holds the successor.
    - ``reused``: it was spent earlier; the family is now revoked (atomically).
    - ``invalid``: no such family, or a secret this family never issued.
    - ``expired`` / ``revoked``: the family is past its lifetime / already revoked.
    """

    status: RotateStatus
    family: FamilyRecord | None = None


RevocationKind = Literal["jti", "sid", "user", "session"]


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """One entry of the revocation log, in the order the store assigned (``seq``).

    - ``jti``: one access token; ``value`` is the jti.
    - ``sid``: a login (session or token family); ``value`` is the sid.
    - ``user``: every credential of a user issued before ``not_before``.
    - ``session``: one session id retired by rotation (the login lives on under a new
      id); ``value`` is the id's stored hash, never the id. It only tells the other
      instances' session caches to drop the old id: the store no longer holds it.
    """

    seq: int
    kind: RevocationKind
    value: str
    #: Keep the revocation at least until this time (the credential's expiry).
    expires_at: float
    #: For ``user``: tokens with ``iat`` < not_before are revoked.
    not_before: float | None = None
    created_at: float = 0.0


KeyStatus = Literal["active", "verify", "retired"]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A signing key as persisted: its private JWK JSON (never logged, never served)."""

    kid: str
    alg: str
    private_jwk: str
    created_at: float
    status: KeyStatus


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A structured audit record: who did what, when, from where, and the outcome."""

    action: str
    outcome: Literal["ok", "failed"]
    created_at: float
    user_id: str | None = None
    sid: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: str | None = None
    id: int | None = None


# -- protocols --------------------------------------------------------------------


class UserStore(Protocol):
    async def create_user(self, user: UserRecord) -> None:
        """Insert; raise :class:`~gatepass.errors.StoreConflict` if the email exists."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """``email`` is already normalised by the caller."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        """Set or clear the account's disabled flag; :class:`NotFound` if unknown."""

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """Users ordered by ``created_at``, then ``id``."""


class SessionStore(Protocol):
    async def create_session(self, record: SessionRecord) -> None: ...

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """The stored record, even if expired (callers check expiry), or None."""

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None: ...

    async def touch_session(self, id_hash: str, last_seen_at: float) -> None:
        """Move ``last_seen_at`` forward (never backward)."""

    async def rotate_session(self, old_hash: str, new_hash: str) -> bool:
        """Atomically re-key a session; False if ``old_hash`` is unknown."""

    async def delete_session(self, id_hash: str) -> SessionRecord | None:
        """Delete and return the record (None if it was not there)."""

    async def delete_session_by_sid(self, sid: str) -> SessionRecord | None: ...

    async def list_user_sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """The user's sessions whose deadline lies after ``now``, oldest first."""

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """Delete every session of the user and return them."""


class RefreshStore(Protocol):
    async def create_family(self, record: FamilyRecord) -> None: ...

    async def get_family(self, family_id: str) -> FamilyRecord | None: ...

    async def rotate_refresh(
        self,
        family_id: str,
        presented_hash: str,
        new_hash: str,
        sealed_successor: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        """Compare-and-set rotation; atomic against concurrent callers (see RotationResult).

        Every spent hash is remembered for the family, so reuse of any earlier
        generation is detected; a hash the family never issued is ``invalid`` (a
        guess at a public family id must not let anyone revoke it).
        """

    async def revoke_family(self, family_id: str) -> FamilyRecord | None:
        """Mark revoked; return the record as it was before (None if unknown)."""

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """The user's families that are neither revoked nor past ``expires_at``."""

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """Revoke every live family of the user; return those newly revoked."""


class RevocationStore(Protocol):
    async def add_revocation(
        self,
        kind: RevocationKind,
        value: str,
        expires_at: float,
        now: float,
        not_before: float | None = None,
    ) -> RevocationEvent:
        """Record a revocation and append it to the log with a new, larger ``seq``."""

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """Direct check: jti or sid revoked, or ``iat`` below the user's watermark."""

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """Log entries with ``seq`` greater than the given one, in order."""

    async def wait_revocations(
        self, after: int, max_wait: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """The revocation feed: entries after ``after``, waiting up to ``max_wait`` seconds for one.

        Returns as soon as there is at least one entry (possibly written by another
        process), or ``[]`` when ``max_wait`` passes with none. A return proves the feed
        was healthy at that moment; a store that cannot be reached raises
        :class:`~gatepass.errors.StoreUnavailable` instead of returning ``[]``.
        """


class KeyStore(Protocol):
    async def add_key(self, record: KeyRecord) -> None: ...

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first."""

    async def set_key_status(self, kid: str, status: KeyStatus) -> None: ...

    async def activate_key(self, kid: str) -> None:
        """Atomically make ``kid`` the one active key; the former one becomes ``verify``."""


class ThrottleStore(Protocol):
    async def hit(self, key: str, now: float, window: float) -> int:
        """Record one failure for ``key``; return failures within ``(now-window, now]``."""

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """Failures within the window and the time of the oldest of them."""

    async def reset(self, key: str) -> None: ...


class AuditStore(Protocol):
    async def append_audit(self, event: AuditEvent) -> None: ...

    async def list_audit(self, *, user_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first."""


@runtime_checkable
class Store(
    UserStore,
    SessionStore,
    RefreshStore,
    RevocationStore,
    KeyStore,
    ThrottleStore,
    AuditStore,
    Protocol,
):
    """A backend implementing every record family."""

    #: The URL scheme this backend serves (``memory``, ``sqlite``...).
    scheme: str

    async def purge_expired(self, now: float) -> int:
        """Drop records dead for longer than :data:`PURGE_MARGIN`; return how many."""

    async def ping(self) -> None:
        """Raise :class:`~gatepass.errors.StoreUnavailable` unless the store answers."""

    async def aclose(self) -> None: ...


#: The revocation kinds and key statuses a store accepts.
REVOCATION_KINDS: frozenset[str] = frozenset(get_args(RevocationKind))
KEY_STATUSES: frozenset[str] = frozenset(get_args(KeyStatus))


def check_revocation_kind(kind: str) -> None:
    """Raise :class:`~gatepass.errors.ValidationError` unless ``kind`` is a revocation kind."""
    if kind not in REVOCATION_KINDS:
        raise ValidationError(f"unknown revocation kind {kind!r}", field="kind")


def check_key_status(status: str) -> None:
    """Raise :class:`~gatepass.errors.ValidationError` unless ``status`` is a key status."""
    if status not in KEY_STATUSES:
        raise ValidationError(f"unknown key status {status!r}", field="status")


def dump_session_data(data: Mapping[str, object]) -> str:
    """Session ``data`` as canonical JSON text; ValidationError if it is not JSON."""
    try:
        return json.dumps(dict(data), separators=(",", ":"), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValidationError("session data must be JSON-serialisable", field="data") from exc


def load_session_data(text: str, backend: str) -> dict[str, object]:
    """Session ``data`` from stored JSON text; StoreUnavailable if the store holds garbage."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StoreUnavailable(f"{backend}: corrupt session data") from exc
    if not isinstance(value, dict):
        raise StoreUnavailable(f"{backend}: corrupt session data")
    return value


@contextlib.contextmanager
def map_store_errors(backend: str) -> Iterator[None]:
    """Translate a driver's exceptions into the gatepass tree at the boundary.

    Integrity errors become :class:`StoreConflict`; every other driver error becomes
    :class:`StoreUnavailable` (callers fail closed). gatepass errors pass through.
    """
    try:
        yield
    except StoreError:
        raise
    except sqlite3.IntegrityError as exc:
        raise StoreConflict(f"{backend}: constraint violated") from exc
    except (sqlite3.Error, OSError, ConnectionError, TimeoutError) as exc:
        raise StoreUnavailable(f"{backend}: {type(exc).__name__}") from exc
