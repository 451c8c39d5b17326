"""SessionManager: ids, hashing at rest, timeouts, sliding expiry, fixation, destroy, list."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gatepass._utils import hash_token, random_token
from gatepass.config import SessionSettings
from gatepass.errors import SessionExpired, SessionNotFound, StoreUnavailable
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.sessions.manager import SessionManager, _id_hash
from gatepass.stores.base import SessionRecord, SessionStore
from gatepass.stores.memory import MemoryStore
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


async def _stored_last_seen(store: SessionStore, id_hash: str) -> float:
    """The ``last_seen_at`` of the store's own copy of the session (it must exist)."""
    stored = await store.get_session(id_hash)
    assert stored is not None
    return stored.last_seen_at


@pytest.fixture
def manager(memory_store: MemoryStore, clock: FakeClock) -> SessionManager:
    settings = SessionSettings(idle_ttl=100, absolute_ttl=1000, touch_interval=10)
    return SessionManager(memory_store, Revoker(memory_store, clock=clock), settings, clock=clock)


async def test_session_id_has_256_bits_and_only_its_hash_is_stored(
    manager: SessionManager, memory_store: MemoryStore
) -> None:
    """A session id is 43 base64url chars (256 bits); the store is keyed by its SHA-256."""
    issued = await manager.create("u1")
    assert 43 == len(issued.session_id)
    assert issued.record.id_hash == hash_token(issued.session_id)
    assert issued.session_id not in repr(issued)
    stored = await memory_store.get_session(hash_token(issued.session_id))
    assert stored is not None
    assert issued.session_id not in repr(stored)
    assert await memory_store.get_session(issued.session_id) is None


async def test_ids_are_unique(manager: SessionManager) -> None:
    """Two sessions never share an id or a sid."""
    a, b = await manager.create("u1"), await manager.create("u1")
    assert a.session_id != b.session_id
    assert a.record.sid != b.record.sid


async def test_load_returns_live_session(manager: SessionManager) -> None:
    """A fresh session loads and names its user."""
    issued = await manager.create("u1", ip="127.0.0.1", user_agent="pytest")
    record = await manager.load(issued.session_id)
    assert "u1" == record.user_id
    assert "pytest" == record.user_agent


@pytest.mark.parametrize("bad", ["", "x", "A" * 42, "A" * 44, "A" * 42 + "!", "' OR 1=1 --"])
async def test_malformed_or_unknown_ids_are_refused(manager: SessionManager, bad: str) -> None:
    """Malformed ids are refused before any lookup; no session is created on demand."""
    with pytest.raises(SessionNotFound):
        await manager.load(bad)


@pytest.mark.parametrize("bad", ["", "x", "A" * 42, "A" * 44, "A" * 42 + "!", "' OR 1=1 --"])
async def test_malformed_ids_are_refused_by_the_principal_paths(
    manager: SessionManager, bad: str
) -> None:
    """Twice each: the second answer comes from the id memo and must be the same."""
    for _ in range(2):
        assert manager.cached_principal(bad, "cookie") is None
        with pytest.raises(SessionNotFound):
            await manager.load_principal(bad, "cookie")


def test_the_id_memo_hashes_as_stored_and_is_bounded() -> None:
    """The per-request id memo gives hash_token of each id and keeps at most 4,096."""
    ids = [random_token(32) for _ in range(5000)]
    assert all(_id_hash(i) == hash_token(i) for i in ids + ids[-10:])
    assert 4096 == _id_hash.cache_info().currsize


async def test_unknown_well_formed_id_is_refused(manager: SessionManager) -> None:
    """A well-formed id the server never issued is refused (strict mode)."""
    with pytest.raises(SessionNotFound):
        await manager.load("A" * 43)


async def test_idle_timeout(manager: SessionManager, clock: FakeClock) -> None:
    """A session unused for idle_ttl is expired (reason idle) and deleted."""
    issued = await manager.create("u1")
    clock.advance(100)
    with pytest.raises(SessionExpired) as info:
        await manager.load(issued.session_id)
    assert "idle" == info.value.reason
    with pytest.raises(SessionNotFound):
        await manager.load(issued.session_id)


async def test_sliding_expiry_until_absolute_timeout(
    manager: SessionManager, clock: FakeClock
) -> None:
    """Activity slides the idle deadline, but never past the absolute lifetime."""
    issued = await manager.create("u1")
    for _ in range(9):
        clock.advance(99)
        await manager.load(issued.session_id)
    assert 891 == clock.now - issued.record.created_at
    clock.advance(99)  # 990 s: still inside both deadlines
    await manager.load(issued.session_id)
    clock.advance(10)  # 1000 s: absolute
    with pytest.raises(SessionExpired) as info:
        await manager.load(issued.session_id)
    assert "absolute" == info.value.reason


async def test_last_seen_writes_are_throttled(
    manager: SessionManager, memory_store: MemoryStore, clock: FakeClock
) -> None:
    """last_seen_at is written at most once per touch_interval."""
    issued = await manager.create("u1")
    start = issued.record.last_seen_at
    clock.advance(5)
    await manager.load(issued.session_id)
    assert start == await _stored_last_seen(memory_store, issued.record.id_hash)
    clock.advance(5)
    await manager.load(issued.session_id)
    assert start + 10 == await _stored_last_seen(memory_store, issued.record.id_hash)


async def test_login_never_reuses_a_presented_id(manager: SessionManager) -> None:
    """Fixation: the id presented at login is ended and a new one issued."""
    planted = await manager.create("victim")
    fresh = await manager.create("victim", replaces=planted.session_id)
    assert fresh.session_id != planted.session_id
    with pytest.raises(SessionNotFound):
        await manager.load(planted.session_id)
    assert "victim" == (await manager.load(fresh.session_id)).user_id


async def test_rotate_changes_id_keeps_sid(manager: SessionManager) -> None:
    """Rotation gives a new secret id; the old one stops working; the sid stays."""
    issued = await manager.create("u1")
    new_id = await manager.rotate(issued.session_id)
    assert new_id != issued.session_id
    with pytest.raises(SessionNotFound):
        await manager.load(issued.session_id)
    assert issued.record.sid == (await manager.load(new_id)).sid


async def test_destroy_revokes_sid(manager: SessionManager, memory_store: MemoryStore) -> None:
    """Logout deletes the record and revokes its sid (exchanged tokens die with it)."""
    issued = await manager.create("u1")
    assert await manager.destroy(issued.session_id) is not None
    with pytest.raises(SessionNotFound):
        await manager.load(issued.session_id)
    assert await memory_store.is_revoked(jti=None, sid=issued.record.sid, user_id=None, iat=None)


async def test_destroy_user_and_list(manager: SessionManager, clock: FakeClock) -> None:
    """list_user shows only live sessions of that user; destroy_user ends them all."""
    a = await manager.create("u1")
    clock.advance(1)
    b = await manager.create("u1")
    other = await manager.create("u2")
    assert [a.record.sid, b.record.sid] == [s.sid for s in await manager.list_user("u1")]
    assert 2 == len(await manager.destroy_user("u1"))
    assert [] == await manager.list_user("u1")
    assert "u2" == (await manager.load(other.session_id)).user_id


async def test_list_hides_expired(manager: SessionManager, clock: FakeClock) -> None:
    """Sessions past their idle deadline are not listed."""
    await manager.create("u1")
    clock.advance(101)
    assert [] == await manager.list_user("u1")


class CountingStore(MemoryStore):
    """A real memory store that counts session reads."""

    reads = 0

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        self.reads += 1
        return await super().get_session(id_hash)


@pytest.fixture
async def cached(
    clock: FakeClock,
) -> AsyncIterator[tuple[SessionManager, CountingStore, RevocationFeed]]:
    store = CountingStore(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.05, staleness=5)
    revoker = Revoker(store, clock=clock, feed=feed)
    settings = SessionSettings(idle_ttl=100, absolute_ttl=1000, touch_interval=10, cache_ttl=30)
    await feed.sync_once()
    yield SessionManager(store, revoker, settings, clock=clock), store, feed
    await store.aclose()


async def test_cache_serves_reads_while_the_feed_is_healthy(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
) -> None:
    """With a healthy feed, repeated loads are answered from memory."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    for _ in range(5):
        await manager.load(issued.session_id)
    assert 1 == store.reads


async def test_session_ended_elsewhere_is_refused_from_cache(
    cached: tuple[SessionManager, CountingStore, RevocationFeed], clock: FakeClock
) -> None:
    """Another instance's logout reaches the cache through the feed: the session is refused."""
    manager, store, feed = cached
    issued = await manager.create("u1")
    await manager.load(issued.session_id)
    elsewhere = SessionManager(store, Revoker(store, clock=clock), manager.settings, clock=clock)
    await elsewhere.destroy(issued.session_id)
    await feed.sync_once()
    with pytest.raises(SessionNotFound):
        await manager.load(issued.session_id)


async def test_stale_feed_bypasses_the_cache(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
) -> None:
    """When the feed is not healthy every load reads the store."""
    manager, store, feed = cached
    issued = await manager.create("u1")
    feed.staleness = 0.0  # the feed is now considered stale
    await manager.load(issued.session_id)
    await manager.load(issued.session_id)
    assert 2 == store.reads


async def test_stale_cached_deadline_is_rechecked_in_the_store(
    cached: tuple[SessionManager, CountingStore, RevocationFeed], clock: FakeClock
) -> None:
    """A cached copy that looks idle-expired is re-read: a touch elsewhere keeps it alive."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    await manager.load(issued.session_id)
    clock.advance(60)
    await store.touch_session(issued.record.id_hash, clock.now)  # another instance's touch
    clock.advance(60)  # the cached last_seen is 120 s old, the stored one 60 s
    assert "u1" == (await manager.load(issued.session_id)).user_id


async def test_cache_is_bounded(clock: FakeClock) -> None:
    """The session cache never holds more than cache_size entries."""
    store = MemoryStore(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.05, staleness=5)
    await feed.sync_once()
    settings = SessionSettings(cache_ttl=30, cache_size=3)
    manager = SessionManager(store, Revoker(store, clock=clock, feed=feed), settings, clock=clock)
    for _ in range(10):
        await manager.load((await manager.create("u1")).session_id)
    assert 3 == len(manager._cache)


async def test_deferred_touches_are_written_by_flush(
    manager: SessionManager, memory_store: MemoryStore, clock: FakeClock
) -> None:
    """With deferred touches, load queues last_seen writes; flush_touches writes them."""
    issued = await manager.create("u1")
    manager.defer_touches = True
    clock.advance(50)
    await manager.load(issued.session_id)
    written = await _stored_last_seen(memory_store, issued.record.id_hash)
    assert issued.record.last_seen_at == written  # not written yet
    clock.advance(60)  # past the stored idle deadline, not past the queued one
    assert "u1" == (await manager.load(issued.session_id)).user_id
    assert 1 == await manager.flush_touches()
    assert clock.now == await _stored_last_seen(memory_store, issued.record.id_hash)


# -- load_principal: the per-request path, answered from the cache when memory can decide --


async def test_principal_hits_are_served_from_memory(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
) -> None:
    """Repeated load_principal calls read the store once and share one Principal."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    first = await manager.load_principal(issued.session_id, "cookie")
    assert first is await manager.load_principal(issued.session_id, "cookie")
    assert 1 == store.reads
    assert ("u1", "session", issued.record.sid) == (first.user_id, first.method, first.sid)
    assert issued.record.deadline() == first.expires_at
    assert issued.record.csrf_secret == first.csrf_secret
    bearer = await manager.load_principal(issued.session_id, "bearer")
    assert "bearer" == bearer.source  # never another source's Principal


async def test_principal_of_a_session_ended_elsewhere_is_refused(
    cached: tuple[SessionManager, CountingStore, RevocationFeed], clock: FakeClock
) -> None:
    """Another instance's logout reaches a cached Principal through the feed."""
    manager, store, feed = cached
    issued = await manager.create("u1")
    await manager.load_principal(issued.session_id, "cookie")
    elsewhere = SessionManager(store, Revoker(store, clock=clock), manager.settings, clock=clock)
    await elsewhere.destroy(issued.session_id)
    await feed.sync_once()
    with pytest.raises(SessionNotFound):
        await manager.load_principal(issued.session_id, "cookie")


@pytest.mark.parametrize("path", ["load", "load_principal"])
async def test_an_id_rotated_elsewhere_is_refused_from_cache(
    cached: tuple[SessionManager, CountingStore, RevocationFeed], clock: FakeClock, path: str
) -> None:
    """Another instance's rotation (re-authentication) reaches the cache through the feed:
    the old id is refused here at the next feed round, not when the entry ages out."""
    manager, store, feed = cached
    issued = await manager.create("u1")
    await manager.load_principal(issued.session_id, "cookie")
    await manager.load(issued.session_id)
    elsewhere = SessionManager(store, Revoker(store, clock=clock), manager.settings, clock=clock)
    new_id = await elsewhere.rotate(issued.session_id)
    await feed.sync_once()
    read = (
        manager.load(issued.session_id)
        if path == "load"
        else manager.load_principal(issued.session_id, "cookie")
    )
    with pytest.raises(SessionNotFound):
        await read
    assert manager.cached_principal(issued.session_id, "cookie") is None
    assert issued.record.sid == (await manager.load_principal(new_id, "cookie")).sid


async def _revoke_elsewhere(store: MemoryStore, clock: FakeClock, kind: str, sid: str) -> None:
    """A revocation another process writes without deleting the session (as ``gatepass
    users disable`` without ``--redis`` does for a ``--redis`` server's sessions)."""
    revoker = Revoker(store, clock=clock)
    if kind == "user":
        await revoker.revoke_user("u1", expires_at=clock.now + 1000)
    else:
        await revoker.revoke_sid(sid, expires_at=clock.now + 1000)


@pytest.mark.parametrize("kind", ["user", "sid"])
@pytest.mark.parametrize("path", ["load_principal", "load", "list_user", "get_by_sid"])
async def test_a_session_revoked_elsewhere_but_still_stored_is_ended_by_its_next_read(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
    clock: FakeClock,
    kind: str,
    path: str,
) -> None:
    """A user's "revoked before" watermark, or the session's sid, revoked by a process
    that did not delete the session: once the feed brings it, the cached copy is not
    served, and the next read of the session by any path refuses it and ends it as
    destroy() does: its sid revoked (tokens exchanged for it die too), the record
    deleted. Sessions the revocation does not cover (another user's; one begun after the
    watermark, in its second: a session's start is exact) are served, listed and found."""
    manager, store, feed = cached
    ended, other = await manager.create("u1"), await manager.create("u2")
    await manager.load_principal(ended.session_id, "cookie")  # cached here
    clock.advance(0.25)
    await _revoke_elsewhere(store, clock, kind, ended.record.sid)
    clock.advance(0.25)
    later = await manager.create("u1")
    await feed.sync_once()
    assert await store.get_session(ended.record.id_hash) is not None
    assert manager.cached_principal(ended.session_id, "cookie") is None
    if path == "load_principal":
        with pytest.raises(SessionNotFound):
            await manager.load_principal(ended.session_id, "cookie")
    elif path == "load":
        with pytest.raises(SessionNotFound):
            await manager.load(ended.session_id)
    elif path == "list_user":
        assert [later.record.sid] == [r.sid for r in await manager.list_user("u1")]
    else:
        assert await manager.get_by_sid(ended.record.sid) is None
        assert await manager.get_by_sid(later.record.sid) is not None
    assert await store.get_session(ended.record.id_hash) is None
    assert await store.is_revoked(jti=None, sid=ended.record.sid, user_id=None, iat=None)
    with pytest.raises(SessionNotFound):
        await manager.load_principal(ended.session_id, "cookie")
    assert ["u1", "u2"] == [
        (await manager.load_principal(s.session_id, "cookie")).user_id for s in (later, other)
    ]


async def test_with_no_healthy_feed_a_store_read_asks_the_revocation_store(
    clock: FakeClock,
) -> None:
    """With no feed to answer from memory, a session read from the store is checked in
    the revocation store (with --redis, another store than the sessions'): a watermark
    there ends the user's sessions begun before it, listed or read; with that store
    down, a read fails closed instead of serving an unchecked session."""
    sessions, revocations = MemoryStore(clock=clock), MemoryStore(clock=clock)
    manager = SessionManager(sessions, Revoker(revocations, clock=clock), clock=clock)
    ended, kept = await manager.create("u1"), await manager.create("u2")
    listed = await manager.create("u1")
    clock.advance(2)  # the store compares whole seconds (see RevocationSet.session_revoked)
    await Revoker(revocations, clock=clock).revoke_user("u1", expires_at=clock.now + 100)
    assert "u2" == (await manager.load(kept.session_id)).user_id
    with pytest.raises(SessionNotFound):
        await manager.load(ended.session_id)
    assert [] == await manager.list_user("u1")
    assert [None, None] == [await sessions.get_session(s.record.id_hash) for s in (ended, listed)]
    await revocations.aclose()
    with pytest.raises(StoreUnavailable):
        await manager.load(kept.session_id)


@pytest.mark.parametrize(("absolute_ttl", "kept_for"), [(12 * 3600, 360), (200, 200)])
async def test_rotation_logs_the_old_ids_hash_for_longer_than_any_cache(
    clock: FakeClock, absolute_ttl: int, kept_for: float
) -> None:
    """The log entry that retires a rotated id names its hash, and lives longer than any
    cache may hold the id (5 minutes to spare), but never past the session's end."""
    store = MemoryStore(clock=clock)
    settings = SessionSettings(absolute_ttl=absolute_ttl)
    manager = SessionManager(store, Revoker(store, clock=clock), settings, clock=clock)
    issued = await manager.create("u1")
    await manager.rotate(issued.session_id)
    [entry] = await store.revocations_since(0)
    assert ("session", issued.record.id_hash) == (entry.kind, entry.value)
    assert clock.now + kept_for == entry.expires_at


async def test_a_rotation_that_cannot_retire_the_old_id_keeps_it(clock: FakeClock) -> None:
    """The retirement is written before the store moves the session: when it cannot be
    (revocations in a store that is down, sessions in one that is up, as with --redis),
    rotate fails and the session is still there under its old id (nothing is lost).
    Meanwhile it is not served: with no feed, a read from the store asks the revocations
    whether the session was ended, and that fails closed."""
    store, revocations = MemoryStore(clock=clock), MemoryStore(clock=clock)
    manager = SessionManager(store, Revoker(revocations, clock=clock), clock=clock)
    issued = await manager.create("u1")
    loaded = await manager.load(issued.session_id)  # the read of rotate() then fails
    await revocations.aclose()
    with pytest.raises(StoreUnavailable):
        await manager.rotate(issued.session_id)
    kept = await store.get_session(issued.record.id_hash)
    assert kept is not None
    assert (issued.record.sid, loaded.created_at) == (kept.sid, kept.created_at)
    with pytest.raises(StoreUnavailable):
        await manager.load(issued.session_id)


@pytest.mark.parametrize("end", ["destroy", "destroy_sid", "destroy_user", "login"])
async def test_a_logout_that_cannot_revoke_the_sid_keeps_the_session(
    clock: FakeClock, end: str
) -> None:
    """The sid is revoked before the store forgets the session: the revocation is what
    tells the other instances' caches (kept up to 60 s in the server). When it cannot be
    written (revocations in a store that is down, sessions in one that is up, as with
    --redis), ending the session fails and it is still there, instead of gone here and
    served from other instances' caches."""
    store, revocations = MemoryStore(clock=clock), MemoryStore(clock=clock)
    manager = SessionManager(store, Revoker(revocations, clock=clock), clock=clock)
    issued = await manager.create("u1")
    await revocations.aclose()
    ends: dict[str, Callable[[], Awaitable[object]]] = {
        "destroy": lambda: manager.destroy(issued.session_id),
        "destroy_sid": lambda: manager.destroy_sid(issued.record.sid),
        "destroy_user": lambda: manager.destroy_user("u1"),
        # a login that presents the id: the presented session is ended
        "login": lambda: manager.create("u2", replaces=issued.session_id),
    }
    with pytest.raises(StoreUnavailable):
        await ends[end]()
    assert await store.get_session(issued.record.id_hash) is not None


async def test_destroy_user_revokes_every_session_it_deletes(
    manager: SessionManager, memory_store: MemoryStore, clock: FakeClock
) -> None:
    """Live sessions are revoked before the deletion; an expired one the store still held
    is revoked once deleted (tokens exchanged for it carry its sid)."""
    first = await manager.create("u1")
    clock.advance(101)  # idle_ttl=100: expired, not yet purged
    second = await manager.create("u1")
    ended = await manager.destroy_user("u1")
    assert {first.record.sid, second.record.sid} == {r.sid for r in ended}
    for issued in (first, second):
        assert await memory_store.get_session(issued.record.id_hash) is None
        assert await memory_store.is_revoked(
            jti=None, sid=issued.record.sid, user_id=None, iat=None
        )


@pytest.mark.parametrize(("idle", "reason"), [(True, "idle"), (False, "absolute")])
async def test_expired_session_is_never_served_from_cache(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
    clock: FakeClock,
    idle: bool,
    reason: str,
) -> None:
    """Idle and absolute deadlines are enforced on every request, cache hit or not: the
    expired session is refused, deleted and its sid revoked."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    await manager.load_principal(issued.session_id, "cookie")
    if idle:
        clock.advance(100)  # idle_ttl, without a request in between
    else:
        for _ in range(111):  # active every 9 s (no touch due), past absolute_ttl=1000
            clock.advance(9)
            await manager.load_principal(issued.session_id, "cookie")
            await manager.flush_touches()
        manager._cache.clear()  # the store's copy decides, as after cache_ttl
        clock.advance(1000 - 9 * 111)
    with pytest.raises(SessionExpired) as caught:
        await manager.load_principal(issued.session_id, "cookie")
    assert reason == caught.value.reason
    assert await store.get_session(issued.record.id_hash) is None
    assert await store.is_revoked(jti=None, sid=issued.record.sid, user_id=None, iat=None)


async def test_principal_path_slides_the_idle_deadline(
    cached: tuple[SessionManager, CountingStore, RevocationFeed], clock: FakeClock
) -> None:
    """A request after touch_interval slides the deadline (the fast path steps aside)."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    first = await manager.load_principal(issued.session_id, "cookie")
    clock.advance(10)  # touch_interval
    second = await manager.load_principal(issued.session_id, "cookie")
    assert second.expires_at == first.expires_at + 10
    assert clock.now == await _stored_last_seen(store, issued.record.id_hash)


async def test_principal_with_a_stale_feed_reads_the_store(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
) -> None:
    """A stale feed bypasses the cache; with the store down the request fails closed."""
    manager, store, feed = cached
    issued = await manager.create("u1")
    await manager.load_principal(issued.session_id, "cookie")
    feed.staleness = 0.0
    await manager.load_principal(issued.session_id, "cookie")
    assert 2 == store.reads
    await store.aclose()
    with pytest.raises(StoreUnavailable):
        await manager.load_principal(issued.session_id, "cookie")


async def test_principal_cache_entries_expire_after_cache_ttl(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
) -> None:
    """An entry older than cache_ttl (monotonic time) is read from the store again."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    await manager.load_principal(issued.session_id, "cookie")
    manager._cache[issued.session_id].stale_at -= 31  # as if read 31 s ago (cache_ttl=30)
    await manager.load_principal(issued.session_id, "cookie")
    assert 2 == store.reads


async def test_cached_reads_expire_within_cache_ttl_spread_apart(
    cached: tuple[SessionManager, CountingStore, RevocationFeed],
) -> None:
    """Each read is kept 0.9 to 1 times cache_ttl (30 s), at random: reads made together
    are not all made again together."""
    manager, _, _ = cached
    for _ in range(40):
        await manager.load_principal((await manager.create("u1")).session_id, "cookie")
    now = time.monotonic()
    lifetimes = [entry.stale_at - now for entry in manager._cache.values()]
    assert 40 == len(lifetimes)
    assert all(27 - 1 <= life <= 30 for life in lifetimes)  # 1 s for this test's own run
    assert max(lifetimes) - min(lifetimes) > 1  # 40 draws over 3 s: all within 1 s ~ 3^-39


async def test_a_due_touch_does_not_extend_a_cached_read(
    cached: tuple[SessionManager, CountingStore, RevocationFeed], clock: FakeClock
) -> None:
    """When a ``last_seen_at`` write falls due, the cached record moves on but is still
    the same read: it is read again from the store when that read goes stale."""
    manager, store, _ = cached
    issued = await manager.create("u1")
    await manager.load_principal(issued.session_id, "cookie")
    stale_at = manager._cache[issued.session_id].stale_at
    clock.advance(11)  # touch_interval=10: a write falls due
    await manager.load_principal(issued.session_id, "cookie")
    entry = manager._cache[issued.session_id]
    assert entry.record.last_seen_at == clock()  # the touch, written or queued
    assert stale_at == entry.stale_at
    assert 1 == store.reads


async def test_principal_cache_is_bounded(clock: FakeClock) -> None:
    """load_principal never grows the cache past cache_size."""
    store = MemoryStore(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.05, staleness=5)
    await feed.sync_once()
    settings = SessionSettings(cache_ttl=30, cache_size=3)
    manager = SessionManager(store, Revoker(store, clock=clock, feed=feed), settings, clock=clock)
    for _ in range(10):
        await manager.load_principal((await manager.create("u1")).session_id, "cookie")
    assert 3 == len(manager._cache)
