"""The shared fast store: Redis through ``redis.asyncio`` (scheme ``redis`` / ``rediss``).

Meant to sit next to a durable store (``--redis``, see :mod:`gatepass.stores.split`), where
it holds sessions, revocations (+ the feed) and login counters for every instance; it also
implements the other families, so Redis alone can serve a sessions-only deployment.

Design:

- **Atomicity**: every multi-key write is one Lua script (``register_script``, so
  EVALSHA); Redis runs a script without interleaving anything else, which makes
  ``rotate_refresh`` a compare-and-set and keeps every index consistent with its records.
  Some scripts derive key names from stored records (the user's index from a session),
  so this backend targets one Redis primary (or Sentinel), not Redis Cluster.
- **Expiry** is stored and checked on read by the callers, as in every backend. Native
  TTLs only collect garbage: each record lives until its own deadline +
  :data:`~gatepass.stores.base.PURGE_MARGIN` (counted from the store clock).
- **Indexes** (a user's sessions or families, and the global ones
  :meth:`RedisStore.purge_expired` walks) are sorted sets scored by each member's
  deadline; members dead past the margin are dropped (``ZREMRANGEBYSCORE``) whenever an
  index is read or written, and the index key expires with its longest-lived member.
  Nothing relies on keyspace notifications.
- **Numbers** travel as Python ``repr`` strings (exact round trip); records are hashes of
  strings, session ``data`` a JSON string. Only hashes of secrets are ever stored.
- **No automatic retries**: a command that failed on the wire may have run, and re-running
  ``rotate_refresh`` would turn a network blip into a theft alarm, so every driver error
  fails closed as :class:`~gatepass.errors.StoreUnavailable` (socket timeouts of
  :data:`SOCKET_TIMEOUT` seconds bound how long that takes).
- **The revocation feed** is Redis pub/sub with catch-up: ``add_revocation``'s script
  appends to the log (a sorted set scored by ``seq``) and PUBLISHes the seq on
  ``<prefix>revocations``. :meth:`RedisStore.wait_revocations` proves its subscription
  alive with a PING on it, reads the log after the cursor, then waits for a message. A
  broken subscription raises ``StoreUnavailable`` and is replaced on the next call, whose
  catch-up read covers the gap.

Keys without a TTL (all small or capped): ``user:*``, ``email:*``, ``users``, ``key:*``,
``keys``, ``keys:seq``, ``revseq``, ``audit``, ``audit:seq``, ``audit:user:*``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import anyio
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gatepass.errors import (
    ConfigurationError,
    NotFound,
    StoreConflict,
    StoreError,
    StoreUnavailable,
)
from gatepass.stores import redis_lua as lua
from gatepass.stores.base import (
    KEY_STATUSES,
    PURGE_MARGIN,
    REVOCATION_KINDS,
    AuditEvent,
    FamilyRecord,
    KeyRecord,
    KeyStatus,
    RevocationEvent,
    RevocationKind,
    RotateStatus,
    RotationResult,
    SessionRecord,
    UserRecord,
    check_key_status,
    check_revocation_kind,
    dump_session_data,
)
from gatepass.types import Clock

__all__ = ["RedisStore"]

#: Seconds a connect or a single read/write may take before the store fails closed.
SOCKET_TIMEOUT = 2.0
#: Idle seconds after which a pooled connection is PINGed before reuse.
HEALTH_CHECK_INTERVAL = 15
#: How many audit events are kept, in total and per user.
AUDIT_CAP = 100_000
AUDIT_USER_CAP = 10_000
#: How many records one purge script call handles.
PURGE_BATCH = 500

_ROTATE_STATUSES = frozenset({"rotated", "grace", "reused", "invalid", "expired", "revoked"})
_FEED_PING = "gp-feed"

# -- encoding ---------------------------------------------------------------------------


def _num(value: float) -> str:
    """A float as the exact string Redis and Lua parse back to the same double."""
    return repr(float(value))


def _excl(value: float) -> str:
    """An exclusive sorted-set bound."""
    return "(" + _num(value)


def _pairs(fields: Mapping[str, str | None]) -> list[str]:
    """Flatten a record's fields for HSET, leaving out the ``None`` ones."""
    out: list[str] = []
    for name, value in fields.items():
        if value is not None:
            out += [name, value]
    return out


def _as_map(flat: Sequence[str]) -> dict[str, str]:
    """A hash as a script returns it (HGETALL's flat list) as a dict."""
    with _decoding():
        return dict(zip(flat[::2], flat[1::2], strict=True))


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """A stored record that does not parse is a broken store, not a caller error."""
    try:
        yield
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise StoreUnavailable("redis: corrupt record") from exc


def _user(user_id: str, m: Mapping[str, str]) -> UserRecord:
    with _decoding():
        return UserRecord(
            user_id, m["email"], m["password_hash"], float(m["created_at"]), m["disabled"] == "1"
        )


def _session_fields(r: SessionRecord) -> list[str]:
    return _pairs({
        "sid": r.sid, "user_id": r.user_id, "created_at": _num(r.created_at),
        "last_seen_at": _num(r.last_seen_at), "expires_at": _num(r.expires_at),
        "idle_ttl": _num(r.idle_ttl), "csrf_secret": r.csrf_secret, "ip": r.ip,
        "user_agent": r.user_agent, "data": dump_session_data(r.data),
    })  # fmt: skip


def _session(id_hash: str, m: Mapping[str, str]) -> SessionRecord:
    with _decoding():
        data = json.loads(m["data"])
        if not isinstance(data, dict):
            raise ValueError("session data is not an object")
        return SessionRecord(
            id_hash=id_hash, sid=m["sid"], user_id=m["user_id"],
            created_at=float(m["created_at"]), last_seen_at=float(m["last_seen_at"]),
            expires_at=float(m["expires_at"]), idle_ttl=float(m["idle_ttl"]),
            csrf_secret=m["csrf_secret"], ip=m.get("ip"), user_agent=m.get("user_agent"),
            data=data,
        )  # fmt: skip


def _family_fields(r: FamilyRecord) -> list[str]:
    return _pairs({
        "user_id": r.user_id, "created_at": _num(r.created_at),
        "expires_at": _num(r.expires_at), "current_hash": r.current_hash,
        "generation": str(int(r.generation)), "previous_hash": r.previous_hash,
        "rotated_at": None if r.rotated_at is None else _num(r.rotated_at),
        "sealed_successor": r.sealed_successor,
        "last_used_at": None if r.last_used_at is None else _num(r.last_used_at),
        "revoked": "1" if r.revoked else "0", "scope": r.scope, "audience": r.audience,
        "ip": r.ip, "user_agent": r.user_agent, "csrf_hash": r.csrf_hash,
    })  # fmt: skip


def _family(family_id: str, m: Mapping[str, str]) -> FamilyRecord:
    with _decoding():
        return FamilyRecord(
            family_id=family_id, user_id=m["user_id"], created_at=float(m["created_at"]),
            expires_at=float(m["expires_at"]), current_hash=m["current_hash"],
            generation=int(m["generation"]), previous_hash=m.get("previous_hash"),
            rotated_at=_opt_float(m.get("rotated_at")),
            sealed_successor=m.get("sealed_successor"),
            last_used_at=_opt_float(m.get("last_used_at")), revoked=m["revoked"] == "1",
            scope=m["scope"], audience=m.get("audience"), ip=m.get("ip"),
            user_agent=m.get("user_agent"), csrf_hash=m.get("csrf_hash"),
        )  # fmt: skip


def _event(member: str) -> RevocationEvent:
    with _decoding():
        seq, _, payload = member.partition(":")
        p = json.loads(payload)
        kind = p["k"]
        if kind not in REVOCATION_KINDS:
            raise ValueError("unknown revocation kind")
        return RevocationEvent(int(seq), kind, p["v"], p["e"], p["n"], p["c"])


def _audit(member: str) -> AuditEvent:
    with _decoding():
        audit_id, _, payload = member.partition(":")
        p = json.loads(payload)
        return AuditEvent(
            action=p["a"], outcome=p["o"], created_at=p["t"], user_id=p["u"], sid=p["s"],
            ip=p["i"], user_agent=p["g"], detail=p["d"], id=int(audit_id),
        )  # fmt: skip


def _key(kid: str, m: Mapping[str, str]) -> KeyRecord:
    with _decoding():
        status = m["status"]
        if status not in KEY_STATUSES:
            raise ValueError("unknown key status")
        return KeyRecord(
            kid, m["alg"], m["private_jwk"], float(m["created_at"]), cast(KeyStatus, status)
        )


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    """Translate driver errors at the boundary: every one means "fail closed".

    Connection, timeout, loading and script (``ResponseError``) errors, and OS-level
    socket errors, all become :class:`StoreUnavailable`; gatepass errors pass through.
    """
    try:
        yield
    except StoreError:
        raise
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc


class RedisStore:
    """Every record family in one Redis database, under a key prefix.

    Args:
        url: ``redis://[user:password@]host:port/db`` or ``rediss://...`` (TLS).
        clock: The time source for native TTLs and index trimming, and for which
            families :meth:`revoke_user_families` counts as live.
        prefix: Prepended to every key and to the feed channel; lets deployments or
            tests share one Redis database.

    Raises:
        ConfigurationError: the URL cannot be parsed (the message never repeats it).
    """

    scheme = "redis"

    def __init__(self, url: str, *, clock: Clock = time.time, prefix: str = "gp:") -> None:
        self._url = url
        self._clock = clock
        self._prefix = prefix
        self._channel = f"{prefix}revocations"
        #: The CLIENT SETNAME of the feed's pub/sub connection (for operators and tests).
        self.feed_client_name = "gp-feed-" + re.sub(r"[^\x21-\x7e]", "_", prefix)
        self._closed = False
        self._client = self._connect(url, "gatepass")
        self._feed_client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._feed_lock = anyio.Lock()
        self._scripts = {
            name: self._client.register_script(lua.PRELUDE + body)
            for name, body in lua.SCRIPTS.items()
        }

    @staticmethod
    def _connect(url: str, client_name: str) -> aioredis.Redis:
        try:
            return aioredis.Redis.from_url(
                url,
                decode_responses=True,
                protocol=2,
                client_name=client_name,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                socket_keepalive=True,
                health_check_interval=HEALTH_CHECK_INTERVAL,
                retry=Retry(NoBackoff(), 0),
            )
        except (ValueError, TypeError, RedisError) as exc:
            raise ConfigurationError("malformed redis store URL") from exc

    def _k(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("redis: store is closed")

    def _cutoff(self) -> str:
        """Index members dead for longer than the margin (per the store clock) go."""
        return _excl(self._clock() - PURGE_MARGIN)

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """Run one registered script (EVALSHA), mapping driver errors."""
        self._check_open()
        with _redis_errors():
            return await self._scripts[script](keys=list(keys), args=list(args))

    async def _hash(self, key: str) -> dict[str, str]:
        """One HGETALL (responses are decoded, so every name and value is a str)."""
        return cast(dict[str, str], await self._client.hgetall(key))

    # -- users ----------------------------------------------------------------------

    async def create_user(self, user: UserRecord) -> None:
        """Insert a user; :class:`StoreConflict` if the id or the email exists."""
        keys = [self._k("user", user.id), self._k("email", user.email), self._k("users")]
        args = [user.id, user.email, user.password_hash, _num(user.created_at)]
        if not await self._run("create_user", keys, [*args, "1" if user.disabled else "0"]):
            raise StoreConflict("redis: user exists")

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""
        self._check_open()
        with _redis_errors():
            found = await self._hash(self._k("user", user_id))
        return _user(user_id, found) if found else None

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        """The user with exactly this (normalised) email, or None."""
        found = await self._run("deref", [self._k("email", email)], [self._k("user", "")])
        return None if found is None else _user(found[0], _as_map(found[1]))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the password hash; :class:`NotFound` if the user is unknown."""
        if not await self._run("set_password", [self._k("user", user_id)], [password_hash]):
            raise NotFound("redis: no such user")

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        """Set or clear the disabled flag; :class:`NotFound` if the user is unknown."""
        flag = "1" if disabled else "0"
        if not await self._run("set_disabled", [self._k("user", user_id)], [flag]):
            raise NotFound("redis: no such user")

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        """Users ordered by ``created_at``, then ``id``."""
        if limit <= 0:
            return []
        start = max(offset, 0)
        args: list[str | int] = [self._prefix, start, start + limit - 1]
        found = await self._run("list_users", [self._k("users")], args)
        return [_user(i, _as_map(f)) for i, f in found]

    # -- sessions -------------------------------------------------------------------

    async def create_session(self, record: SessionRecord) -> None:
        """Insert; :class:`StoreConflict` if the id hash or the sid exists."""
        fields = _session_fields(record)
        keys = [
            self._k("sess", record.id_hash), self._k("sid", record.sid),
            self._k("usess", record.user_id), self._k("sessions"),
        ]  # fmt: skip
        now, deadline = _num(self._clock()), _num(record.deadline())
        args = [record.id_hash, now, deadline, self._cutoff(), *fields]
        if not await self._run("create_session", keys, args):
            raise StoreConflict("redis: session exists")

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """The stored record, even if expired, or None (one HGETALL)."""
        self._check_open()
        with _redis_errors():
            found = await self._hash(self._k("sess", id_hash))
        return _session(id_hash, found) if found else None

    async def get_session_by_sid(self, sid: str) -> SessionRecord | None:
        """The session with this public sid, or None."""
        found = await self._run("deref", [self._k("sid", sid)], [self._k("sess", "")])
        return None if found is None else _session(found[0], _as_map(found[1]))

    async def touch_session(self, id_hash: str, last_seen_at: float) -> None:
        """Move ``last_seen_at`` forward (never backward); unknown ids are ignored."""
        args = [self._prefix, id_hash, _num(last_seen_at), _num(self._clock()), self._cutoff()]
        await self._run("touch_session", [self._k("sess", id_hash)], args)

    async def rotate_session(self, old_hash: str, new_hash: str) -> bool:
        """Re-key a session; False if ``old_hash`` is unknown, conflict if ``new_hash`` exists."""
        keys = [self._k("sess", old_hash), self._k("sess", new_hash)]
        args = [self._prefix, old_hash, new_hash, _num(self._clock()), self._cutoff()]
        outcome = await self._run("rotate_session", keys, args)
        if outcome == -1:
            raise StoreConflict("redis: session exists")
        return bool(outcome == 1)

    async def delete_session(self, id_hash: str) -> SessionRecord | None:
        """Delete and return the record (None if it was not there)."""
        flat = await self._run("delete_session", [], [self._prefix, id_hash])
        return _session(id_hash, _as_map(flat)) if flat else None

    async def delete_session_by_sid(self, sid: str) -> SessionRecord | None:
        """Delete and return the session with this sid (None if it was not there)."""
        found = await self._run("delete_session_by_sid", [self._k("sid", sid)], [self._prefix])
        return None if found is None else _session(found[0], _as_map(found[1]))

    async def list_user_sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """The user's sessions whose deadline lies after ``now``, oldest first."""
        args = [self._k("sess", ""), _excl(now), self._cutoff()]
        found = await self._run("list_index", [self._k("usess", user_id)], args)
        records = [_session(i, _as_map(f)) for i, f in found]
        live = [r for r in records if r.user_id == user_id and r.deadline() > now]
        return sorted(live, key=lambda r: (r.created_at, r.sid))

    async def delete_user_sessions(self, user_id: str) -> list[SessionRecord]:
        """Delete every session of the user (live or not) and return them, oldest first."""
        found = await self._run("delete_user_sessions", [self._k("usess", user_id)], [self._prefix])
        records = [_session(i, _as_map(f)) for i, f in found]
        return sorted(records, key=lambda r: (r.created_at, r.sid))

    # -- refresh-token families -----------------------------------------------------

    async def create_family(self, record: FamilyRecord) -> None:
        """Insert; :class:`StoreConflict` if the family id exists."""
        fid = record.family_id
        keys = [
            self._k("fam", fid), self._k("spent", fid),
            self._k("ufam", record.user_id), self._k("families"),
        ]  # fmt: skip
        args = [fid, _num(self._clock()), _num(record.expires_at), self._cutoff()]
        if not await self._run("create_family", keys, [*args, *_family_fields(record)]):
            raise StoreConflict("redis: family exists")

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family, or None."""
        self._check_open()
        with _redis_errors():
            found = await self._hash(self._k("fam", family_id))
        return _family(family_id, found) if found else None

    async def rotate_refresh(
        self,
        family_id: str,
        presented_hash: str,
        new_hash: str,
        sealed_successor: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        """Compare-and-set rotation in one script (see ``RotationResult``)."""
        keys = [self._k("fam", family_id), self._k("spent", family_id)]
        args = [presented_hash, new_hash, sealed_successor, _num(now), _num(grace)]
        reply = await self._run("rotate_refresh", keys, args)
        with _decoding():
            status = reply[0]
            if status not in _ROTATE_STATUSES:
                raise ValueError("unknown rotation status")
        family = _family(family_id, _as_map(reply[1])) if len(reply) > 1 else None
        return RotationResult(cast(RotateStatus, status), family)

    async def revoke_family(self, family_id: str) -> FamilyRecord | None:
        """Mark revoked; return the record as it was before (None if unknown)."""
        flat = await self._run("revoke_family", [self._k("fam", family_id)], [])
        return _family(family_id, _as_map(flat)) if flat else None

    async def list_user_families(self, user_id: str, now: float) -> list[FamilyRecord]:
        """The user's families neither revoked nor past ``expires_at``, oldest first."""
        args = [self._k("fam", ""), _excl(now), self._cutoff()]
        found = await self._run("list_index", [self._k("ufam", user_id)], args)
        records = [_family(i, _as_map(f)) for i, f in found]
        live = [f for f in records if f.user_id == user_id and not f.revoked and now < f.expires_at]
        return sorted(live, key=lambda f: (f.created_at, f.family_id))

    async def revoke_user_families(self, user_id: str) -> list[FamilyRecord]:
        """Revoke the user's live families (per the store clock); return them, now revoked."""
        now = self._clock()
        args = [self._prefix, _excl(now), self._cutoff(), _num(now)]
        found = await self._run("revoke_user_families", [self._k("ufam", user_id)], args)
        records = [_family(i, _as_map(f)) for i, f in found]
        return sorted(records, key=lambda f: (f.created_at, f.family_id))

    # -- revocations ----------------------------------------------------------------

    async def add_revocation(
        self,
        kind: RevocationKind,
        value: str,
        expires_at: float,
        now: float,
        not_before: float | None = None,
    ) -> RevocationEvent:
        """Record a revocation, append it to the log and publish its seq, in one script.

        For ``user``, a missing ``not_before`` means ``now``; the user's watermark
        only ever moves forward.
        """
        check_revocation_kind(kind)
        if kind == "user" and not_before is None:
            not_before = now
        payload = json.dumps(
            {"k": kind, "v": value, "e": expires_at, "n": not_before, "c": now},
            separators=(",", ":"),
        )
        keys = [
            self._k("rev", kind, value), self._k("revseq"), self._k("revlog"),
            self._k("revexp"), self._k("revlive"),
        ]  # fmt: skip
        args = [
            kind, _num(expires_at), _num(now if not_before is None else not_before),
            _num(self._clock()), payload, self._channel, self._cutoff(), f"{kind}:{value}",
        ]  # fmt: skip
        seq = await self._run("add_revocation", keys, args)
        return RevocationEvent(int(seq), kind, value, expires_at, not_before, now)

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        """Direct check in one round trip: jti or sid revoked, or ``iat`` below the watermark."""
        self._check_open()
        check_user = user_id is not None and iat is not None
        with _redis_errors():
            pipe = self._client.pipeline(transaction=False)
            pipe.exists(self._k("rev", "jti", jti or ""))
            pipe.exists(self._k("rev", "sid", sid or ""))
            pipe.hget(self._k("rev", "user", user_id or ""), "not_before")
            jti_hit, sid_hit, mark = await pipe.execute()
        if (jti is not None and jti_hit) or (sid is not None and sid_hit):
            return True
        if not check_user or mark is None:
            return False
        with _decoding():
            return bool(iat is not None and iat < float(mark))

    async def revocations_since(self, seq: int, limit: int = 1000) -> list[RevocationEvent]:
        """Log entries with ``seq`` greater than the given one, in order."""
        self._check_open()
        if limit <= 0:
            return []
        with _redis_errors():
            members = await self._client.zrangebyscore(
                self._k("revlog"), f"({int(seq)}", "+inf", start=0, num=limit
            )
        return [_event(str(m)) for m in members]

    async def wait_revocations(
        self, after: int, max_wait: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """Entries after ``after``; waits on the pub/sub channel up to ``max_wait`` seconds.

        One caller at a time uses the subscription; a concurrent caller that cannot get
        it within ``max_wait`` returns a plain read of the log.

        Raises:
            StoreUnavailable: Redis, or the subscription, is broken; the next call
                subscribes again and its catch-up read covers the gap.
        """
        self._check_open()
        wait = max(max_wait, 0.0)
        deadline = anyio.current_time() + wait
        try:
            self._feed_lock.acquire_nowait()
        except anyio.WouldBlock:
            acquired = False
            with anyio.move_on_after(wait):
                await self._feed_lock.acquire()
                acquired = True
            if not acquired:  # another caller holds the subscription and vouches for it
                return await self.revocations_since(after, limit)
        try:
            return await self._wait_locked(after, deadline, limit)
        finally:
            self._feed_lock.release()

    async def _wait_locked(self, after: int, deadline: float, limit: int) -> list[RevocationEvent]:
        pubsub = await self._subscribed()
        try:
            with _redis_errors():
                await self._feed_alive(pubsub)
                events = await self.revocations_since(after, limit)  # catch-up
                while not events:
                    remaining = deadline - anyio.current_time()
                    if remaining <= 0:
                        # An empty answer must prove the feed healthy now, not only earlier.
                        if await self._feed_alive(pubsub):
                            events = await self.revocations_since(after, limit)
                        break
                    message = await pubsub.get_message(timeout=remaining)
                    if message is not None and message["type"] == "message":
                        events = await self.revocations_since(after, limit)
                return events
        except BaseException:
            await self._drop_pubsub()
            raise

    @staticmethod
    async def _feed_alive(pubsub: PubSub) -> bool:
        """PING through the subscription and await the PONG; True if a message came first.

        Raises:
            TimeoutError: no PONG within :data:`SOCKET_TIMEOUT` (a silently dead link).
        """
        await pubsub.ping(_FEED_PING)
        woke = False
        with anyio.fail_after(SOCKET_TIMEOUT):
            while True:
                message = await pubsub.get_message(timeout=SOCKET_TIMEOUT)
                if message is not None and message["type"] == "pong":
                    return woke
                woke = woke or (message is not None and message["type"] == "message")

    async def _subscribed(self) -> PubSub:
        """The live subscription, subscribing (and awaiting the confirmation) if needed."""
        if self._pubsub is not None:
            return self._pubsub
        if self._feed_client is None:
            self._feed_client = self._connect(self._url, self.feed_client_name)
        pubsub = self._feed_client.pubsub()
        try:
            with _redis_errors():
                await pubsub.subscribe(self._channel)
                with anyio.fail_after(SOCKET_TIMEOUT):
                    while True:
                        message = await pubsub.get_message(timeout=SOCKET_TIMEOUT)
                        if message is not None and message["type"] == "subscribe":
                            break
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        self._pubsub = pubsub
        return pubsub

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- signing keys ---------------------------------------------------------------

    async def add_key(self, record: KeyRecord) -> None:
        """Insert; :class:`StoreConflict` if the kid exists."""
        check_key_status(record.status)
        keys = [self._k("key", record.kid), self._k("keys"), self._k("keys", "seq")]
        r = record
        args = [r.kid, r.alg, r.private_jwk, _num(r.created_at), r.status]
        if not await self._run("add_key", keys, args):
            raise StoreConflict("redis: key exists")

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first (insertion order breaks ties)."""
        found = await self._run("list_keys", [self._k("keys")], [self._prefix])
        return [_key(kid, _as_map(f)) for kid, f in found]

    async def set_key_status(self, kid: str, status: KeyStatus) -> None:
        """Set a key's status; :class:`NotFound` if the kid is unknown."""
        check_key_status(status)
        if not await self._run("set_key_status", [self._k("key", kid)], [status]):
            raise NotFound("redis: no such key")

    async def activate_key(self, kid: str) -> None:
        """Make ``kid`` the one active key; the former active keys become ``verify``."""
        keys = [self._k("key", kid), self._k("keys")]
        if not await self._run("activate_key", keys, [self._prefix, kid]):
            raise NotFound("redis: no such key")

    # -- login throttling -----------------------------------------------------------

    async def hit(self, key: str, now: float, window: float) -> int:
        """Record one failure; return failures within ``(now-window, now]``."""
        start = now - window
        member = f"{_num(now)}:{secrets.token_hex(8)}"
        ttl = max(1, math.ceil(window)) if math.isfinite(window) else 315360000
        sweep = _num(self._clock() - PURGE_MARGIN)
        keys = [self._k("thr", key), self._k("thr_idx")]
        args: list[str | int] = [
            self._prefix, key, _num(now), _num(start), _excl(start), member, ttl, sweep,
        ]  # fmt: skip
        return int(await self._run("hit", keys, args))

    async def count(self, key: str, now: float, window: float) -> tuple[int, float | None]:
        """Failures within the window and the time of the oldest of them."""
        self._check_open()
        start, end = _excl(now - window), _num(now)
        with _redis_errors():
            pipe = self._client.pipeline(transaction=False)
            pipe.zcount(self._k("thr", key), start, end)
            pipe.zrangebyscore(self._k("thr", key), start, end, start=0, num=1, withscores=True)
            n, oldest = await pipe.execute()
        with _decoding():
            return int(n), (float(oldest[0][1]) if oldest else None)

    async def reset(self, key: str) -> None:
        """Forget every failure recorded for ``key``."""
        self._check_open()
        with _redis_errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(self._k("thr", key))
            pipe.zrem(self._k("thr_idx"), key)
            await pipe.execute()

    # -- audit ----------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        """Append an event (capped at :data:`AUDIT_CAP`); the store assigns its ``id``."""
        e = event
        payload = json.dumps(
            {"a": e.action, "o": e.outcome, "t": e.created_at, "u": e.user_id, "s": e.sid,
             "i": e.ip, "g": e.user_agent, "d": e.detail},
            separators=(",", ":"),
        )  # fmt: skip
        keys = [self._k("audit"), self._k("audit", "seq")]
        if e.user_id is not None:
            keys.append(self._k("audit", "user", e.user_id))
        args: list[str | int] = [_num(e.created_at), payload, AUDIT_CAP, AUDIT_USER_CAP]
        await self._run("append_audit", keys, args)

    async def list_audit(self, *, user_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first (by ``created_at``, then insertion), optionally of one user."""
        self._check_open()
        if limit <= 0:
            return []
        key = self._k("audit") if user_id is None else self._k("audit", "user", user_id)
        with _redis_errors():
            members = await self._client.zrevrange(key, 0, limit - 1)
        return [_audit(str(m)) for m in members]

    # -- housekeeping ---------------------------------------------------------------

    async def purge_expired(self, now: float) -> int:
        """Drop records dead for longer than ``PURGE_MARGIN``; return how many.

        Counted, as in the other backends: sessions, families, revocation-log entries
        and throttle hits (live revocation entries and spent hashes go uncounted).
        Records that Redis already expired natively are not counted.
        """
        cutoff = now - PURGE_MARGIN
        jobs = [
            ("purge_sessions", [self._k("sessions")], _excl(cutoff)),
            ("purge_families", [self._k("families")], _excl(cutoff)),
            (
                "purge_revocations",
                [self._k("revlog"), self._k("revexp"), self._k("revlive")],
                _excl(cutoff),
            ),
            ("purge_throttle", [self._k("thr_idx")], _num(cutoff)),
        ]
        removed = 0
        for script, keys, bound in jobs:
            while True:
                count, seen = await self._run(script, keys, [self._prefix, bound, PURGE_BATCH])
                removed += int(count)
                if int(seen) < PURGE_BATCH:
                    break
        return removed

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless Redis answers a PING in time."""
        self._check_open()
        with _redis_errors():
            await self._client.ping()

    async def aclose(self) -> None:
        """Close the subscription and every connection; later calls raise ``StoreUnavailable``."""
        self._closed = True
        await self._drop_pubsub()
        for client in (self._client, self._feed_client):
            if client is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(RedisError, OSError):
                    await client.aclose()
