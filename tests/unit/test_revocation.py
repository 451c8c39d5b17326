"""Revoker, RevocationSet and RevocationFeed: memory answers while fresh, fail closed after."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from gatepass.errors import ConfigurationError, StoreUnavailable
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.stores.base import RevocationEvent
from gatepass.stores.memory import MemoryStore
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


class CountingStore(MemoryStore):
    """A real memory store that counts direct revocation checks."""

    def __init__(self, *, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.direct_checks = 0

    async def is_revoked(
        self, *, jti: str | None, sid: str | None, user_id: str | None, iat: float | None
    ) -> bool:
        self.direct_checks += 1
        return await super().is_revoked(jti=jti, sid=sid, user_id=user_id, iat=iat)


async def eventually(predicate: Callable[[], bool], within: float = 3.0) -> None:
    """Wait until ``predicate()`` holds; fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while not predicate():
            await anyio.sleep(0.01)


def event(seq: int, kind: str, value: str, **kw: float) -> RevocationEvent:
    return RevocationEvent(seq, kind, value, kw.get("exp", 2e9), kw.get("nb"), kw.get("at", 0.0))  # type: ignore[arg-type]


def test_set_matches_store_semantics() -> None:
    """jti, sid and user watermark (iat strictly below) revoke exactly what they cover."""
    revoked = RevocationSet()
    revoked.apply_feed(
        [event(1, "jti", "j1"), event(2, "sid", "s1"), event(3, "user", "u", nb=100)]
    )
    assert 3 == revoked.seq
    assert revoked.is_revoked(jti="j1", sid=None, user_id=None, iat=None)
    assert revoked.is_revoked(jti="x", sid="s1", user_id=None, iat=None)
    assert revoked.is_revoked(jti="x", sid="y", user_id="u", iat=99)
    assert not revoked.is_revoked(jti="x", sid="y", user_id="u", iat=100)
    assert not revoked.is_revoked(jti="j2", sid="s2", user_id="v", iat=1)


def test_watermark_never_moves_back_and_prune() -> None:
    """A later, lower watermark does not lower it; expired entries are pruned."""
    revoked = RevocationSet()
    revoked.apply(event(1, "user", "u", nb=200, exp=50))
    revoked.apply(event(2, "user", "u", nb=100, exp=60))
    assert revoked.is_revoked(jti=None, sid=None, user_id="u", iat=150)
    revoked.apply(event(3, "jti", "j", exp=10))
    assert 1 == revoked.prune(now=55)  # the jti is gone; the user mark lives until 60
    assert not revoked.is_revoked(jti="j", sid=None, user_id=None, iat=None)
    assert revoked.is_revoked(jti=None, sid=None, user_id="u", iat=150)
    assert 1 == revoked.prune(now=61)


def test_retired_session_ids_are_their_own_kind() -> None:
    """A ``session`` entry retires one id hash: it is not a jti or sid revocation, it
    moves the generation, counts in len() and is pruned after its expiry."""
    revoked = RevocationSet()
    before = revoked.generation
    revoked.apply(event(1, "session", "h1", exp=50))
    assert revoked.generation != before
    assert (True, False) == (
        revoked.session_revoked("h1", "s", "u", 0.0),
        revoked.session_revoked("h2", "s", "u", 0.0),
    )
    assert not revoked.is_revoked(jti="h1", sid="h1", user_id=None, iat=None)
    revoked.apply(event(2, "sid", "h2", exp=50))
    assert (False, True) == (
        revoked.session_revoked("h2", "s", "u", 0.0),
        revoked.session_revoked("x", "h2", "u", 0.0),
    )
    revoked.apply(event(3, "session", "h1", exp=40))  # a lower expiry never shortens it
    assert 2 == len(revoked)
    assert 0 == revoked.prune(now=45)
    assert revoked.session_revoked("h1", "s", "u", 0.0)
    assert 2 == revoked.prune(now=51)
    assert not revoked.session_revoked("h1", "s", "u", 0.0)


def test_a_user_watermark_ends_the_sessions_begun_before_it() -> None:
    """A session begun before its user's "revoked before" watermark is revoked (what
    logout everywhere and a disabled account write); one begun at or after it, or
    another user's, is not; and the watermark is pruned only after its expiry."""
    revoked = RevocationSet()
    assert not revoked.session_revoked("h", "s", "u", 150.0)
    before = revoked.generation
    revoked.apply(event(1, "user", "u", nb=200, exp=500))
    assert revoked.generation != before
    assert [True, True, False, False, False] == [
        revoked.session_revoked("h", "s", "u", 150.0),
        revoked.session_revoked("h", "s", "u", 199.5),
        revoked.session_revoked("h", "s", "u", 200.0),
        revoked.session_revoked("h", "s", "u", 250.0),
        revoked.session_revoked("h", "s", "v", 150.0),
    ]
    assert 0 == revoked.prune(now=499)
    assert revoked.session_revoked("h", "s", "u", 150.0)
    assert 1 == revoked.prune(now=501)
    assert not revoked.session_revoked("h", "s", "u", 150.0)


def test_a_user_watermark_is_precise_for_sessions_and_whole_seconds_for_tokens() -> None:
    """``iat`` counts whole seconds, so a token issued in the watermark's second lives
    on (it may come after it); a session's start is precise, so one begun earlier in
    that second ends and one begun after the watermark's moment lives on."""
    revoked = RevocationSet()
    revoked.apply(event(1, "user", "u", nb=200, at=200.6))
    assert [False, True] == [
        revoked.is_revoked(None, None, "u", 200),
        revoked.is_revoked(None, None, "u", 199),
    ]
    assert [True, False] == [
        revoked.session_revoked("h", "s", "u", 200.3),
        revoked.session_revoked("h", "s", "u", 200.7),
    ]
    revoked.apply(event(2, "user", "u", nb=100, at=100.5))  # an older entry moves nothing
    assert [True, False] == [
        revoked.session_revoked("h", "s", "u", 200.3),
        revoked.session_revoked("h", "s", "u", 200.7),
    ]


async def test_retired_session_ids_are_logged_and_checked_from_memory(
    clock: FakeClock,
) -> None:
    """retire_session_id logs the hash for every instance and counts here at once;
    session_revoked_now answers only while the feed is healthy."""
    store = CountingStore(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.05, staleness=5)
    revoker = Revoker(store, clock=clock, feed=feed)
    assert revoker.session_revoked_now("h1", "s1", "u", 0.0) is None  # feed not heard from yet
    await feed.sync_once()
    assert [False] == [revoker.session_revoked_now("h1", "s1", "u", 0.0)]
    event = await revoker.retire_session_id("h1", expires_at=clock.now + 60)
    assert ("session", "h1", clock.now + 60) == (event.kind, event.value, event.expires_at)
    assert [event] == await store.revocations_since(0)
    assert [True, False] == [
        revoker.session_revoked_now("h1", "s1", "u", 0.0),
        revoker.session_revoked_now("h2", "s1", "u", 0.0),
    ]
    await revoker.revoke_sid("s2", expires_at=clock.now + 60)
    assert [True] == [revoker.session_revoked_now("h2", "s2", "u", 0.0)]
    elsewhere = RevocationSet()  # another instance learns it from the log
    elsewhere.apply_feed(await store.revocations_since(0))
    assert elsewhere.session_revoked("h1", "s1", "u", 0.0)
    assert 0 == store.direct_checks


def test_feed_rejects_bad_bounds() -> None:
    """max_wait must be below the staleness bound."""
    with pytest.raises(ConfigurationError):
        RevocationFeed(MemoryStore(), RevocationSet(), staleness=1, max_wait=1)


async def test_checks_go_to_the_store_until_the_feed_runs(clock: FakeClock) -> None:
    """Without a healthy feed every check is a direct store check."""
    store = CountingStore(clock=clock)
    revoker = Revoker(store, clock=clock, feed=RevocationFeed(store, RevocationSet()))
    await revoker.revoke_sid("s1", expires_at=clock.now + 60)
    assert await revoker.is_revoked(sid="s1")
    assert 1 == store.direct_checks


async def test_feed_brings_peer_revocations_and_checks_need_no_io(clock: FakeClock) -> None:
    """A revocation written elsewhere reaches this process fast; checks then stay in memory."""
    store = CountingStore(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.2, staleness=1.0)
    here = Revoker(store, clock=clock, feed=feed)
    elsewhere = Revoker(store, clock=clock)  # another instance: no shared memory
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)
        await eventually(lambda: feed.healthy)
        assert not await here.is_revoked(jti="j9")
        await elsewhere.revoke_jti("j9", expires_at=clock.now + 60)
        with anyio.fail_after(2):  # a liveness bound; the latency is measured by benchmarks
            while not await here.is_revoked(jti="j9"):
                await anyio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert 0 == store.direct_checks


async def test_stale_feed_falls_back_then_fails_closed(clock: FakeClock) -> None:
    """When the feed stops, checks go to the store; with the store down they raise."""
    store = CountingStore(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.05, staleness=0.1)
    revoker = Revoker(store, clock=clock, feed=feed)
    await feed.sync_once()
    assert [True] == [feed.healthy]
    assert not await revoker.is_revoked(jti="j1")
    assert 0 == store.direct_checks
    await anyio.sleep(0.15)
    assert [False] == [feed.healthy]
    assert not await revoker.is_revoked(jti="j1")
    assert 1 == store.direct_checks
    await store.aclose()
    with pytest.raises(StoreUnavailable):
        await revoker.is_revoked(jti="j1")


async def test_feed_recovers_after_store_errors(clock: FakeClock) -> None:
    """A feed whose store fails keeps retrying and turns healthy again once it answers."""

    class Flaky(MemoryStore):
        down = True

        async def wait_revocations(
            self, after: int, max_wait: float, limit: int = 1000
        ) -> list[RevocationEvent]:
            if self.down:
                raise StoreUnavailable("down")
            return await super().wait_revocations(after, max_wait, limit)

    store = Flaky(clock=clock)
    feed = RevocationFeed(store, RevocationSet(), max_wait=0.05, staleness=0.2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)
        await anyio.sleep(0.1)
        assert not feed.healthy
        store.down = False
        await eventually(lambda: feed.healthy)
        tg.cancel_scope.cancel()


def test_generation_moves_with_every_applied_revocation() -> None:
    """The fast path's stamp: any revocation applied (feed or local) moves it to a value
    no set has had; pruning, which only forgets expired entries, does not."""
    revoked, other = RevocationSet(), RevocationSet()
    seen = {revoked.generation, other.generation}
    assert 2 == len(seen)
    for events in ([event(1, "jti", "j1", exp=10)], [event(2, "sid", "s1")]):
        revoked.apply_feed(events)
        assert revoked.generation not in seen
        seen.add(revoked.generation)
    revoked.apply(event(0, "user", "u", nb=5))
    assert revoked.generation not in seen
    before = revoked.generation
    revoked.prune(now=100)
    assert before == revoked.generation


async def test_trusted_until_follows_rounds_and_staleness(clock: FakeClock) -> None:
    """healthy is 'monotonic now <= trusted_until': -inf before the first round, then
    the last round's time + staleness; changing staleness moves it."""
    feed = RevocationFeed(MemoryStore(clock=clock), RevocationSet(), staleness=5, max_wait=0.1)
    assert (float("-inf"), False) == (feed.trusted_until, feed.healthy)
    await feed.sync_once()
    assert [True] == [feed.healthy]
    until = feed.trusted_until
    feed.staleness = 0.0
    assert [False] == [feed.healthy]
    assert until - 5 == pytest.approx(feed.trusted_until)
    feed.staleness = 5.0
    assert [True] == [feed.healthy]
    assert until == feed.trusted_until
