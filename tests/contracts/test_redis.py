"""The store contract on Redis (alone and split next to SQLite), plus Redis-only guarantees.

Needs a real Redis (see ``tests/contracts/redis_env.py``): each test writes under its own
key prefix in a dedicated logical database and deletes its keys afterwards.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from gatepass.errors import ConfigurationError, StoreUnavailable
from gatepass.stores import AuditEvent, KeyRecord, Store, open_store, open_stores
from gatepass.stores.base import PURGE_MARGIN
from gatepass.stores.redis import RedisStore
from gatepass.stores.split import SplitStore
from gatepass.stores.sqlite import SQLiteStore
from tests.conftest import FakeClock
from tests.contracts.redis_env import delete_prefix, require_redis, unique_prefix
from tests.contracts.test_stores import StoreContract, a_family, a_session, a_user, h, rotate

#: Keys the Redis store keeps without a TTL (documented in gatepass.stores.redis).
_PERMANENT = r"(user:.*|email:.*|users|key:.*|keys|keys:seq|revseq|audit|audit:seq|audit:user:.*)"


class RedisKeys:
    """Give every test a reachable Redis URL and a fresh key prefix, deleted afterwards."""

    url: str
    prefix: str

    @pytest.fixture(autouse=True)
    def _redis_keys(self) -> Iterator[None]:
        self.url = require_redis()
        self.prefix = unique_prefix()
        yield
        delete_prefix(self.url, self.prefix)

    @pytest.fixture
    async def admin(self) -> AsyncIterator[aioredis.Redis]:
        client = aioredis.Redis.from_url(self.url, decode_responses=True, protocol=2)
        yield client
        await client.aclose()

    def redis_store(self, clock: FakeClock) -> RedisStore:
        return RedisStore(self.url, clock=clock, prefix=self.prefix)


class TestRedisStore(RedisKeys, StoreContract):
    """The Redis backend on its own (a sessions-only deployment)."""

    async def make_store(self, clock: FakeClock, tmp_path: Path) -> Store:
        return self.redis_store(clock)

    async def make_peer(self, store: Store, clock: FakeClock, tmp_path: Path) -> Store:
        return self.redis_store(clock)

    async def _keys(self, admin: aioredis.Redis) -> dict[str, int]:
        """Every key under this test's prefix (prefix stripped) with its TTL in seconds."""
        found = {}
        async for key in admin.scan_iter(match=f"{self.prefix}*"):
            found[key[len(self.prefix) :]] = await admin.ttl(key)
        return found

    async def test_every_key_expires_or_is_permanent(
        self, store: Store, clock: FakeClock, admin: aioredis.Redis
    ) -> None:
        """Every key has a TTL unless it is permanent; after a purge only permanent ones remain."""
        t = clock.now
        await store.create_user(a_user(1))
        await store.add_key(KeyRecord("k1", "EdDSA", "{}", t, "active"))
        await store.append_audit(AuditEvent("login", "ok", t, user_id="user-1"))
        await store.create_session(a_session("s1", t, ttl=60))
        await store.touch_session(h("s1"), t + 1)
        await store.rotate_session(h("s1"), h("s1-new"))
        await store.create_family(a_family("f1", t, ttl=60))
        await rotate(store, "f1", 0, t)
        await store.add_revocation("jti", "j1", t + 60, t)
        await store.add_revocation("sid", "s1", t + 60, t)
        await store.add_revocation("user", "user-1", t + 60, t)
        await store.hit("ip:192.0.2.1", t, 60)
        before = await self._keys(admin)
        unexpiring = {k for k, ttl in before.items() if ttl < 0}
        assert {k for k in unexpiring if not re.fullmatch(_PERMANENT, k)} == set()
        assert {"sess:" + h("s1-new"), "sid:s1", "fam:f1", "spent:f1", "rev:jti:j1"} <= set(before)
        clock.advance(60 + PURGE_MARGIN + 1)
        # one session, one family, three log entries, one throttle hit
        assert 6 == await store.purge_expired(clock.now)
        after = await self._keys(admin)
        assert {k for k in after if not re.fullmatch(_PERMANENT, k)} == set()

    async def test_native_ttl_is_deadline_plus_margin(
        self, store: Store, clock: FakeClock, admin: aioredis.Redis
    ) -> None:
        """A record's native TTL is its own deadline plus PURGE_MARGIN, counted from the clock."""
        await store.create_session(a_session("s1", clock.now, ttl=600, idle_ttl=100))
        await store.create_family(a_family("f1", clock.now, ttl=900))
        await store.add_revocation("jti", "j1", clock.now + 300, clock.now)
        ttls = await self._keys(admin)
        for key, lifetime in [("sess:" + h("s1"), 100), ("fam:f1", 900), ("rev:jti:j1", 300)]:
            assert PURGE_MARGIN + lifetime - 2 <= ttls[key] <= PURGE_MARGIN + lifetime, key

    async def test_user_indexes_do_not_grow(
        self, store: Store, clock: FakeClock, admin: aioredis.Redis
    ) -> None:
        """Sessions and families that die without logout leave no entries in the user's index."""
        for i in range(100):
            await store.create_session(a_session(f"s{i}", clock.now, ttl=10))
            await store.create_family(a_family(f"f{i}", clock.now, ttl=10))
        assert 100 == await admin.zcard(f"{self.prefix}usess:user-1")
        clock.advance(10 + PURGE_MARGIN + 1)  # as long as the records themselves are kept
        await store.create_session(a_session("fresh", clock.now))
        await store.create_family(a_family("fresh", clock.now))
        assert 1 == await admin.zcard(f"{self.prefix}usess:user-1")
        assert 1 == await admin.zcard(f"{self.prefix}sessions")
        assert 1 == await admin.zcard(f"{self.prefix}ufam:user-1")
        assert ["fresh"] == [s.sid for s in await store.list_user_sessions("user-1", clock.now)]

    async def test_killed_feed_connection_fails_then_recovers(
        self, store: Store, clock: FakeClock, tmp_path: Path, admin: aioredis.Redis
    ) -> None:
        """A killed pub/sub connection makes the next wait fail; the one after misses nothing."""
        assert isinstance(store, RedisStore)
        first = await store.add_revocation("jti", "j1", clock.now + 60, clock.now)
        assert [first] == await store.wait_revocations(0, max_wait=0.05)
        ours = [c for c in await admin.client_list() if c["name"] == store.feed_client_name]
        assert 1 == len(ours)
        assert 1 == await admin.client_kill_filter(_id=ours[0]["id"], _type="pubsub")
        peer = await self.make_peer(store, clock, tmp_path)
        try:
            missed = await peer.add_revocation("sid", "s-gap", clock.now + 60, clock.now)
            with anyio.fail_after(5):
                with pytest.raises(StoreUnavailable):
                    await store.wait_revocations(first.seq, max_wait=1)
                assert [missed] == await store.wait_revocations(first.seq, max_wait=1)
                seen: list[str] = []

                async def waiter() -> None:
                    events = await store.wait_revocations(missed.seq, max_wait=4)
                    seen.extend(e.value for e in events)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(waiter)
                    await anyio.sleep(0.05)
                    await peer.add_revocation("jti", "j-live", clock.now + 60, clock.now)
        finally:
            await peer.aclose()
        assert ["j-live"] == seen

    async def test_concurrent_waiters_all_see_a_revocation(
        self, store: Store, clock: FakeClock, tmp_path: Path
    ) -> None:
        """Three callers waiting on one store at once each get a peer's revocation."""
        peer = await self.make_peer(store, clock, tmp_path)
        seen: list[list[str]] = []

        async def waiter() -> None:
            events = await store.wait_revocations(0, max_wait=3)
            seen.append([e.value for e in events])

        try:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    for _ in range(3):
                        tg.start_soon(waiter)
                    await anyio.sleep(0.1)
                    await peer.add_revocation("sid", "s-peer", clock.now + 60, clock.now)
        finally:
            await peer.aclose()
        assert [["s-peer"]] * 3 == seen

    async def test_feed_killed_during_a_wait_raises(
        self, store: Store, clock: FakeClock, admin: aioredis.Redis
    ) -> None:
        """A pub/sub connection killed while a wait is pending makes that wait raise, not []."""
        assert isinstance(store, RedisStore)
        outcome: list[str] = []

        async def waiter() -> None:
            try:
                await store.wait_revocations(0, max_wait=3)
            except StoreUnavailable:
                outcome.append("unavailable")
            else:
                outcome.append("returned")

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.1)
                ours = [c for c in await admin.client_list() if c["name"] == store.feed_client_name]
                assert 1 == len(ours)
                await admin.client_kill_filter(_id=ours[0]["id"], _type="pubsub")
        assert ["unavailable"] == outcome

    async def test_two_store_objects_rotate_atomically(
        self, store: Store, clock: FakeClock, tmp_path: Path
    ) -> None:
        """Two store objects (two connection pools) on one Redis still let one rotation win."""
        other = await self.make_peer(store, clock, tmp_path)
        await store.create_family(a_family("f1", clock.now))
        statuses: list[str] = []

        async def one(target: Store, i: int) -> None:
            result = await target.rotate_refresh(
                "f1", h("f1-0"), h(f"winner-{i}"), "s", clock.now, 0
            )
            statuses.append(result.status)

        try:
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(one, store if i % 2 else other, i)
        finally:
            await other.aclose()
        counts = tuple(statuses.count(s) for s in ("rotated", "reused", "revoked"))
        assert (1, 1, 18) == counts

    async def test_unreachable_redis_fails_closed(self, clock: FakeClock) -> None:
        """Against a closed port, ping and every read raise StoreUnavailable, quickly."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        dead = RedisStore(f"redis://127.0.0.1:{port}/0", clock=clock, prefix=self.prefix)
        try:
            with anyio.fail_after(5):
                with pytest.raises(StoreUnavailable):
                    await dead.ping()
                with pytest.raises(StoreUnavailable):
                    await dead.get_session(h("s1"))
                with pytest.raises(StoreUnavailable):
                    await dead.wait_revocations(0, max_wait=1)
        finally:
            await dead.aclose()


class TestSplitStore(RedisKeys, StoreContract):
    """SQLite for durable records and revocations next to Redis for sessions and counters."""

    def split(self, clock: FakeClock, tmp_path: Path) -> SplitStore:
        return SplitStore(SQLiteStore(tmp_path / "store.db", clock=clock), self.redis_store(clock))

    async def make_store(self, clock: FakeClock, tmp_path: Path) -> Store:
        return self.split(clock, tmp_path)

    async def make_peer(self, store: Store, clock: FakeClock, tmp_path: Path) -> Store:
        return self.split(clock, tmp_path)

    async def test_families_go_where_they_belong(
        self, store: Store, clock: FakeClock, admin: aioredis.Redis
    ) -> None:
        """Sessions land in Redis; users, refresh families and revocations in SQLite."""
        assert "sqlite+redis" == store.scheme
        await store.create_user(a_user(1))
        await store.create_family(a_family("f1", clock.now))
        await store.create_session(a_session("s1", clock.now))
        await store.add_revocation("jti", "j1", clock.now + 60, clock.now)
        keys = {k[len(self.prefix) :] async for k in admin.scan_iter(match=f"{self.prefix}*")}
        assert {"sess:" + h("s1"), "sid:s1"} <= keys
        assert not {k for k in keys if k.startswith(("user", "email", "fam", "rev"))}
        assert isinstance(store, SplitStore)
        assert await store.durable.is_revoked(jti="j1", sid=None, user_id=None, iat=None)


# -- open_store / open_stores ----------------------------------------------------------------


def test_open_store_redis() -> None:
    """redis:// and rediss:// open a RedisStore without connecting."""
    assert isinstance(open_store("redis://localhost:6379/0"), RedisStore)
    assert isinstance(open_store("rediss://user:pw@localhost:6380/1"), RedisStore)


def test_open_store_rejects_a_malformed_redis_url() -> None:
    """A redis URL the driver cannot parse is a ConfigurationError that does not echo it."""
    with pytest.raises(ConfigurationError) as info:
        open_store("redis://admin:hunter2@localhost:notaport/0")
    assert "hunter2" not in str(info.value)


def test_open_stores(tmp_path: Path) -> None:
    """open_stores splits durable and fast stores when a Redis URL is given."""
    alone = open_stores(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(alone, SQLiteStore)
    split = open_stores(f"sqlite:///{tmp_path}/a.db", "redis://localhost:6379/0")
    assert isinstance(split, SplitStore)
    assert (SQLiteStore, RedisStore) == (type(split.durable), type(split.fast))
    with pytest.raises(ConfigurationError):
        open_stores("memory://", "memory://")


@pytest.mark.anyio
async def test_open_store_redis_prefix_query_parameter() -> None:
    """?prefix=NAME puts every key and the feed under NAME and is not sent to the driver."""
    url = require_redis()
    prefix = unique_prefix()
    store = open_store(f"{url}?prefix={prefix}")
    admin = aioredis.Redis.from_url(url, decode_responses=True, protocol=2)
    try:
        await store.create_user(a_user(1))
        await store.add_revocation("sid", "s1", 4_000_000_000.0, 1_000.0)
        keys = {k async for k in admin.scan_iter(match=f"{prefix}*")}
        assert {f"{prefix}user:user-1", f"{prefix}rev:sid:s1", f"{prefix}revseq"} <= keys
        assert ["s1"] == [e.value for e in await store.wait_revocations(0, max_wait=0)]
        with pytest.raises(ConfigurationError):
            open_store(f"{url}?prefix=")
    finally:
        await store.aclose()
        await admin.aclose()
        delete_prefix(url, prefix)
