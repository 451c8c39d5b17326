"""The store contract: one behavioural suite that every backend must pass.

``StoreContract`` holds every test; a backend joins by subclassing it and providing
``make_store`` (or overriding the ``store`` fixture), as ``TestPostgresStore`` in
test_postgres.py and ``TestRedisStore`` / ``TestSplitStore`` in test_redis.py do (they
fail, never skip, under ``CI=true`` when their server is missing).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from gatepass._utils import hash_token
from gatepass.errors import (
    ConfigurationError,
    NotFound,
    RateLimited,
    StoreConflict,
    StoreUnavailable,
    ValidationError,
)
from gatepass.stores import (
    AuditEvent,
    FamilyRecord,
    KeyRecord,
    RotationResult,
    SessionRecord,
    Store,
    UserRecord,
    open_store,
)
from gatepass.stores.base import PURGE_MARGIN
from gatepass.stores.memory import MemoryStore
from gatepass.stores.sqlite import SQLiteStore
from gatepass.throttle import TRUST_TTL, LoginThrottle
from tests.conftest import FakeClock
from tests.contracts.race import release_together

HOUR = 3600.0


def h(label: str) -> str:
    """The at-rest form of a made-up secret."""
    return hash_token(f"secret-{label}")


def a_user(n: int, *, created_at: float = 0.0, email: str | None = None) -> UserRecord:
    return UserRecord(f"user-{n}", email or f"user{n}@example.com", f"argon-{n}", created_at)


def a_session(
    sid: str,
    now: float,
    *,
    user_id: str = "user-1",
    ttl: float = 8 * HOUR,
    idle_ttl: float = HOUR,
    data: dict[str, object] | None = None,
) -> SessionRecord:
    return SessionRecord(
        id_hash=h(sid),
        sid=sid,
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ttl,
        idle_ttl=idle_ttl,
        csrf_secret="c5" * 16,
        data=data or {},
    )


def a_family(
    family_id: str, now: float, *, user_id: str = "user-1", ttl: float = 24 * HOUR
) -> FamilyRecord:
    return FamilyRecord(
        family_id=family_id,
        user_id=user_id,
        created_at=now,
        expires_at=now + ttl,
        current_hash=h(f"{family_id}-0"),
        scope="openid profile",
        audience="api",
    )


async def rotate(
    store: Store, family_id: str, gen: int, now: float, grace: float = 10.0
) -> RotationResult:
    """Present generation ``gen`` of a family and ask for generation ``gen + 1``."""
    return await store.rotate_refresh(
        family_id, h(f"{family_id}-{gen}"), h(f"{family_id}-{gen + 1}"), f"sealed-{gen + 1}",
        now, grace,
    )  # fmt: skip


class StoreContract:
    """Every behaviour a :class:`~gatepass.stores.base.Store` backend guarantees."""

    pytestmark = pytest.mark.anyio

    async def make_store(self, clock: FakeClock, tmp_path: Path) -> Store:
        """Return a fresh, empty store of the backend under test, using ``clock``."""
        raise NotImplementedError

    @pytest.fixture
    async def store(self, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Store]:
        store = await self.make_store(clock, tmp_path)
        try:
            yield store
        finally:
            await store.aclose()

    # -- lifecycle ------------------------------------------------------------------

    async def test_implements_the_store_protocol(self, store: Store) -> None:
        """The backend is a runtime-checkable Store with a URL scheme."""
        assert isinstance(store, Store)
        assert store.scheme

    async def test_ping_answers_until_closed(self, store: Store) -> None:
        """ping succeeds on a live store; after aclose every call is StoreUnavailable."""
        await store.ping()
        await store.aclose()
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.get_user("user-1")
        with pytest.raises(StoreUnavailable):
            await store.create_user(a_user(1))

    # -- users ----------------------------------------------------------------------

    async def test_user_round_trip(self, store: Store) -> None:
        """A created user reads back equal by id and by email."""
        user = dataclasses.replace(a_user(1, created_at=5.5), disabled=True)
        await store.create_user(user)
        assert user == await store.get_user("user-1")
        assert user == await store.get_user_by_email("user1@example.com")

    async def test_unknown_user_is_none(self, store: Store) -> None:
        """Looking up a user that does not exist gives None."""
        assert None is await store.get_user("nobody")
        assert None is await store.get_user_by_email("nobody@example.com")

    async def test_duplicate_email_conflicts(self, store: Store) -> None:
        """A second user with an existing email is a StoreConflict and changes nothing."""
        await store.create_user(a_user(1, email="same@example.com"))
        with pytest.raises(StoreConflict):
            await store.create_user(a_user(2, email="same@example.com"))
        assert None is await store.get_user("user-2")

    async def test_duplicate_user_id_conflicts(self, store: Store) -> None:
        """A second user with an existing id is a StoreConflict."""
        await store.create_user(a_user(1))
        with pytest.raises(StoreConflict):
            await store.create_user(a_user(1, email="other@example.com"))

    async def test_emails_are_compared_as_given(self, store: Store) -> None:
        """The store does not normalise emails: a differently-cased email is another key."""
        await store.create_user(a_user(1, email="ann@example.com"))
        assert None is await store.get_user_by_email("Ann@example.com")
        await store.create_user(a_user(2, email="Ann@example.com"))
        stored = await store.get_user_by_email("Ann@example.com")
        assert stored is not None
        assert "user-2" == stored.id

    async def test_set_password_hash(self, store: Store) -> None:
        """set_password_hash replaces only the hash; an unknown user is NotFound."""
        await store.create_user(a_user(1))
        await store.set_password_hash("user-1", "argon-new")
        assert dataclasses.replace(a_user(1), password_hash="argon-new") == await store.get_user(
            "user-1"
        )
        with pytest.raises(NotFound):
            await store.set_password_hash("nobody", "x")

    async def test_set_user_disabled(self, store: Store) -> None:
        """set_user_disabled sets and clears only the flag; an unknown user is NotFound."""
        await store.create_user(a_user(1))
        await store.create_user(a_user(2))
        await store.set_user_disabled("user-1", True)
        assert dataclasses.replace(a_user(1), disabled=True) == await store.get_user("user-1")
        by_email = await store.get_user_by_email(a_user(1).email)
        assert by_email is not None
        assert by_email.disabled
        assert a_user(2) == await store.get_user("user-2")
        await store.set_user_disabled("user-1", False)
        assert a_user(1) == await store.get_user("user-1")
        with pytest.raises(NotFound):
            await store.set_user_disabled("nobody", True)

    async def test_list_users_orders_and_pages(self, store: Store) -> None:
        """Users list by created_at then id, with limit and offset."""
        for n, created in [(3, 2.0), (1, 1.0), (2, 1.0), (4, 0.5)]:
            await store.create_user(a_user(n, created_at=created))
        ids = [u.id for u in await store.list_users()]
        assert ["user-4", "user-1", "user-2", "user-3"] == ids
        page = await store.list_users(limit=2, offset=1)
        assert ["user-1", "user-2"] == [u.id for u in page]

    # -- sessions ---------------------------------------------------------------------

    async def test_session_round_trip(self, store: Store, clock: FakeClock) -> None:
        """A created session reads back equal, by id hash and by sid, data included."""
        record = dataclasses.replace(
            a_session("s1", clock.now, data={"theme": "dark", "n": [1, 2.5, None]}),
            ip="192.0.2.1",
            user_agent="test-agent",
        )
        await store.create_session(record)
        assert record == await store.get_session(h("s1"))
        assert record == await store.get_session_by_sid("s1")
        assert None is await store.get_session(h("other"))
        assert None is await store.get_session_by_sid("other")

    async def test_duplicate_session_conflicts(self, store: Store, clock: FakeClock) -> None:
        """Reusing a session's id hash or its sid is a StoreConflict."""
        await store.create_session(a_session("s1", clock.now))
        with pytest.raises(StoreConflict):
            await store.create_session(dataclasses.replace(a_session("s2", clock.now), sid="s1"))
        with pytest.raises(StoreConflict):
            await store.create_session(dataclasses.replace(a_session("s1", clock.now), sid="s3"))

    async def test_session_data_must_be_json(self, store: Store, clock: FakeClock) -> None:
        """Session data that JSON cannot hold is a ValidationError and nothing is stored."""
        with pytest.raises(ValidationError):
            await store.create_session(a_session("s1", clock.now, data={"x": {1, 2}}))
        with pytest.raises(ValidationError):
            await store.create_session(a_session("s1", clock.now, data={"x": float("nan")}))
        assert None is await store.get_session(h("s1"))

    async def test_session_data_is_not_shared(self, store: Store, clock: FakeClock) -> None:
        """Mutating the dict given to or read from the store does not change the session."""
        data: dict[str, object] = {"cart": ["a"]}
        await store.create_session(a_session("s1", clock.now, data=data))
        data["cart"] = ["changed"]
        first = await store.get_session(h("s1"))
        assert first is not None
        first.data["cart"].append("b")  # type: ignore[attr-defined]
        second = await store.get_session(h("s1"))
        assert second is not None
        assert {"cart": ["a"]} == second.data

    async def test_get_session_returns_expired_record(self, store: Store, clock: FakeClock) -> None:
        """An expired session is still returned: callers check the deadline."""
        record = a_session("s1", clock.now, ttl=60)
        await store.create_session(record)
        clock.advance(10 * HOUR)
        assert record == await store.get_session(h("s1"))

    async def test_touch_only_moves_forward(self, store: Store, clock: FakeClock) -> None:
        """touch_session moves last_seen_at forward, never backward; unknown ids are ignored."""
        await store.create_session(a_session("s1", clock.now))
        await store.touch_session(h("s1"), clock.now + 30)
        await store.touch_session(h("s1"), clock.now + 10)
        await store.touch_session(h("nope"), clock.now + 10)
        record = await store.get_session(h("s1"))
        assert record is not None
        assert clock.now + 30 == record.last_seen_at

    async def test_rotate_session(self, store: Store, clock: FakeClock) -> None:
        """rotate_session re-keys a session, keeping its sid and everything else."""
        original = a_session("s1", clock.now)
        await store.create_session(original)
        assert await store.rotate_session(h("s1"), h("s1-new"))
        assert None is await store.get_session(h("s1"))
        assert dataclasses.replace(original, id_hash=h("s1-new")) == await store.get_session(
            h("s1-new")
        )
        by_sid = await store.get_session_by_sid("s1")
        assert by_sid is not None
        assert h("s1-new") == by_sid.id_hash

    async def test_rotate_session_unknown_or_taken(self, store: Store, clock: FakeClock) -> None:
        """Rotating an unknown hash is False; rotating onto an existing hash conflicts."""
        assert not await store.rotate_session(h("missing"), h("new"))
        await store.create_session(a_session("s1", clock.now))
        await store.create_session(a_session("s2", clock.now))
        with pytest.raises(StoreConflict):
            await store.rotate_session(h("s1"), h("s2"))
        assert await store.get_session(h("s1")) is not None

    async def test_delete_session(self, store: Store, clock: FakeClock) -> None:
        """delete_session returns the deleted record once, then None."""
        record = a_session("s1", clock.now)
        await store.create_session(record)
        assert record == await store.delete_session(h("s1"))
        assert None is await store.delete_session(h("s1"))
        assert None is await store.get_session_by_sid("s1")

    async def test_delete_session_by_sid(self, store: Store, clock: FakeClock) -> None:
        """delete_session_by_sid deletes by the public id and returns the record."""
        record = a_session("s1", clock.now)
        await store.create_session(record)
        assert record == await store.delete_session_by_sid("s1")
        assert None is await store.get_session(h("s1"))
        assert None is await store.delete_session_by_sid("s1")

    async def test_list_user_sessions_only_live(self, store: Store, clock: FakeClock) -> None:
        """Only the user's sessions with both deadlines ahead are listed, oldest first."""
        t0 = clock.now
        await store.create_session(a_session("late", t0 + 5))
        await store.create_session(a_session("early", t0))
        await store.create_session(a_session("abs-dead", t0, ttl=50))
        await store.create_session(a_session("idle-dead", t0, idle_ttl=50))
        await store.create_session(a_session("other-user", t0, user_id="user-2"))
        await store.create_session(a_session("boundary", t0, ttl=100))
        sids = [s.sid for s in await store.list_user_sessions("user-1", t0 + 100)]
        assert ["early", "late"] == sids

    async def test_touch_keeps_session_listed(self, store: Store, clock: FakeClock) -> None:
        """A touched session stays live past its original idle deadline."""
        await store.create_session(a_session("s1", clock.now, idle_ttl=100))
        await store.touch_session(h("s1"), clock.now + 90)
        assert ["s1"] == [s.sid for s in await store.list_user_sessions("user-1", clock.now + 150)]

    async def test_delete_user_sessions(self, store: Store, clock: FakeClock) -> None:
        """delete_user_sessions removes all of a user's sessions, expired ones too."""
        await store.create_session(a_session("b", clock.now + 1))
        await store.create_session(a_session("a", clock.now, ttl=1))
        await store.create_session(a_session("mine-not", clock.now, user_id="user-2"))
        deleted = await store.delete_user_sessions("user-1")
        assert ["a", "b"] == [s.sid for s in deleted]
        assert None is await store.get_session(h("a"))
        assert await store.get_session(h("mine-not")) is not None
        assert [] == await store.delete_user_sessions("user-1")

    # -- refresh families -------------------------------------------------------------

    async def test_family_round_trip(self, store: Store, clock: FakeClock) -> None:
        """A created family reads back equal; a second one with that id conflicts."""
        family = dataclasses.replace(
            a_family("f1", clock.now), ip="192.0.2.9", user_agent="ua", csrf_hash=h("csrf")
        )
        await store.create_family(family)
        assert family == await store.get_family("f1")
        assert None is await store.get_family("f2")
        with pytest.raises(StoreConflict):
            await store.create_family(family)

    async def test_rotate_current_secret(self, store: Store, clock: FakeClock) -> None:
        """Presenting the current hash rotates: new current, previous, sealed successor, gen+1."""
        family = a_family("f1", clock.now)
        await store.create_family(family)
        clock.advance(60)
        result = await rotate(store, "f1", 0, clock.now)
        expected = dataclasses.replace(
            family,
            current_hash=h("f1-1"),
            previous_hash=h("f1-0"),
            sealed_successor="sealed-1",
            rotated_at=clock.now,
            last_used_at=clock.now,
            generation=1,
        )
        assert RotationResult("rotated", expected) == result
        assert expected == await store.get_family("f1")

    async def test_rotation_chain(self, store: Store, clock: FakeClock) -> None:
        """Each rotation spends the current secret; generation counts the rotations."""
        await store.create_family(a_family("f1", clock.now))
        for gen in range(5):
            clock.advance(60)
            assert "rotated" == (await rotate(store, "f1", gen, clock.now)).status
        family = await store.get_family("f1")
        assert family is not None
        assert (5, h("f1-5"), h("f1-4")) == (
            family.generation,
            family.current_hash,
            family.previous_hash,
        )

    async def test_grace_returns_sealed_successor(self, store: Store, clock: FakeClock) -> None:
        """The just-spent secret within the grace window gets the unchanged family back."""
        await store.create_family(a_family("f1", clock.now))
        rotated = await rotate(store, "f1", 0, clock.now)
        clock.advance(10)
        again = await store.rotate_refresh("f1", h("f1-0"), h("other"), "x", clock.now, 10)
        assert RotationResult("grace", rotated.family) == again
        assert rotated.family == await store.get_family("f1")

    async def test_grace_window_closes(self, store: Store, clock: FakeClock) -> None:
        """The just-spent secret after the grace window is reuse: the family is revoked."""
        await store.create_family(a_family("f1", clock.now))
        rotated = await rotate(store, "f1", 0, clock.now)
        assert rotated.family is not None
        clock.advance(10.5)
        result = await store.rotate_refresh("f1", h("f1-0"), h("other"), "x", clock.now, 10)
        revoked = dataclasses.replace(rotated.family, revoked=True)
        assert RotationResult("reused", revoked) == result
        assert revoked == await store.get_family("f1")

    async def test_zero_grace_means_reuse(self, store: Store, clock: FakeClock) -> None:
        """With a grace of 0, the just-spent secret is reuse even at the same instant."""
        await store.create_family(a_family("f1", clock.now))
        await rotate(store, "f1", 0, clock.now, grace=0)
        result = await store.rotate_refresh("f1", h("f1-0"), h("x"), "x", clock.now, 0)
        assert "reused" == result.status

    async def test_reuse_of_an_old_generation(self, store: Store, clock: FakeClock) -> None:
        """Generation 0 presented after generation 5 is reuse, even inside the grace window."""
        await store.create_family(a_family("f1", clock.now))
        for gen in range(5):
            await rotate(store, "f1", gen, clock.now, grace=60)
        result = await store.rotate_refresh("f1", h("f1-0"), h("x"), "x", clock.now, 60)
        assert "reused" == result.status
        assert result.family is not None
        assert result.family.revoked
        after = await rotate(store, "f1", 5, clock.now)
        assert "revoked" == after.status

    async def test_unknown_hash_is_invalid(self, store: Store, clock: FakeClock) -> None:
        """A hash the family never issued is invalid and changes nothing."""
        family = a_family("f1", clock.now)
        await store.create_family(family)
        result = await store.rotate_refresh("f1", h("guess"), h("x"), "x", clock.now, 10)
        assert RotationResult("invalid") == result
        assert family == await store.get_family("f1")

    async def test_unknown_family_is_invalid(self, store: Store, clock: FakeClock) -> None:
        """Rotating a family that does not exist is invalid."""
        assert RotationResult("invalid") == await rotate(store, "nope", 0, clock.now)

    async def test_expired_family(self, store: Store, clock: FakeClock) -> None:
        """From expires_at on, any presented secret gets expired and nothing changes."""
        family = a_family("f1", clock.now, ttl=100)
        await store.create_family(family)
        clock.advance(99.5)
        assert "rotated" == (await rotate(store, "f1", 0, clock.now)).status
        clock.advance(0.5)
        rotated = await store.get_family("f1")
        assert RotationResult("expired", rotated) == await rotate(store, "f1", 1, clock.now)
        assert "expired" == (await rotate(store, "f1", 0, clock.now)).status
        assert rotated == await store.get_family("f1")

    async def test_revoke_family(self, store: Store, clock: FakeClock) -> None:
        """revoke_family returns the family as it was; rotating it afterwards is revoked."""
        family = a_family("f1", clock.now)
        await store.create_family(family)
        assert family == await store.revoke_family("f1")
        revoked = dataclasses.replace(family, revoked=True)
        assert revoked == await store.revoke_family("f1")
        assert RotationResult("revoked", revoked) == await rotate(store, "f1", 0, clock.now)
        assert None is await store.revoke_family("nope")

    async def test_list_user_families(self, store: Store, clock: FakeClock) -> None:
        """Only the user's families neither revoked nor expired list, oldest first."""
        t0 = clock.now
        await store.create_family(a_family("late", t0 + 1))
        await store.create_family(a_family("early", t0))
        await store.create_family(a_family("short", t0, ttl=10))
        await store.create_family(a_family("revoked", t0))
        await store.create_family(a_family("theirs", t0, user_id="user-2"))
        await store.revoke_family("revoked")
        ids = [f.family_id for f in await store.list_user_families("user-1", t0 + 10)]
        assert ["early", "late"] == ids

    async def test_revoke_user_families(self, store: Store, clock: FakeClock) -> None:
        """Every live family of the user is revoked and returned; expired ones are left alone."""
        t0 = clock.now
        await store.create_family(a_family("b", t0 + 1))
        await store.create_family(a_family("a", t0))
        await store.create_family(a_family("expired", t0, ttl=10))
        await store.create_family(a_family("theirs", t0, user_id="user-2"))
        clock.advance(10)
        revoked = await store.revoke_user_families("user-1")
        assert [("a", True), ("b", True)] == [(f.family_id, f.revoked) for f in revoked]
        assert [] == await store.list_user_families("user-1", clock.now)
        expired = await store.get_family("expired")
        assert expired is not None
        assert not expired.revoked
        assert ["theirs"] == [f.family_id for f in await store.list_user_families("user-2", t0)]
        assert [] == await store.revoke_user_families("user-1")

    # -- revocations --------------------------------------------------------------------

    async def test_revocation_log_order(self, store: Store, clock: FakeClock) -> None:
        """Each revocation gets a larger seq; revocations_since returns later ones in order."""
        t = clock.now
        first = await store.add_revocation("jti", "j1", t + 600, t)
        second = await store.add_revocation("sid", "s1", t + 900, t)
        third = await store.add_revocation("user", "u1", t + 999, t, not_before=t - 5)
        assert first.seq < second.seq < third.seq
        assert [first, second, third] == await store.revocations_since(0)
        assert [third] == await store.revocations_since(second.seq)
        assert [first] == await store.revocations_since(0, limit=1)
        assert [] == await store.revocations_since(third.seq)
        assert ("user", "u1", t + 999, t - 5, t) == (
            third.kind,
            third.value,
            third.expires_at,
            third.not_before,
            third.created_at,
        )

    async def test_retired_session_ids_are_logged(self, store: Store, clock: FakeClock) -> None:
        """A ``session`` entry (a rotated id's hash) is logged like the others, may be
        written twice, and revokes no jti or sid of the same value."""
        t, id_hash = clock.now, "a1" * 32
        first = await store.add_revocation("session", id_hash, t + 600, t)
        again = await store.add_revocation("session", id_hash, t + 300, t)
        assert first.seq < again.seq
        assert [first, again] == await store.revocations_since(0)
        assert ("session", id_hash, t + 600, None) == (
            first.kind,
            first.value,
            first.expires_at,
            first.not_before,
        )
        assert not await store.is_revoked(jti=id_hash, sid=id_hash, user_id=None, iat=None)

    async def make_peer(self, store: Store, clock: FakeClock, tmp_path: Path) -> Store:
        """A second handle on the same data, as another instance would hold (default: same)."""
        return store

    async def test_feed_returns_pending_entries_at_once(
        self, store: Store, clock: FakeClock
    ) -> None:
        """wait_revocations returns existing entries after the cursor without waiting."""
        first = await store.add_revocation("jti", "j1", clock.now + 60, clock.now)
        with anyio.fail_after(2):
            assert [first] == await store.wait_revocations(0, max_wait=30)

    async def test_feed_times_out_empty(self, store: Store, clock: FakeClock) -> None:
        """With nothing new, wait_revocations returns [] once max_wait has passed."""
        event = await store.add_revocation("jti", "j1", clock.now + 60, clock.now)
        with anyio.fail_after(5):
            assert [] == await store.wait_revocations(event.seq, max_wait=0.05)

    async def test_feed_wakes_on_a_peer_revocation(
        self, store: Store, clock: FakeClock, tmp_path: Path
    ) -> None:
        """A waiter sees a revocation written through another handle, well before max_wait."""
        peer = await self.make_peer(store, clock, tmp_path)
        seen: list[str] = []

        async def waiter() -> None:
            seen.extend(e.value for e in await store.wait_revocations(0, max_wait=30))

        try:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(waiter)
                    await anyio.sleep(0.05)
                    await peer.add_revocation("sid", "s-peer", clock.now + 60, clock.now)
        finally:
            if peer is not store:
                await peer.aclose()
        assert ["s-peer"] == seen

    async def test_is_revoked_by_jti_and_sid(self, store: Store, clock: FakeClock) -> None:
        """A revoked jti or sid is revoked; other values are not."""
        await store.add_revocation("jti", "j1", clock.now + 60, clock.now)
        await store.add_revocation("sid", "s1", clock.now + 60, clock.now)
        check = store.is_revoked
        assert await check(jti="j1", sid=None, user_id=None, iat=None)
        assert await check(jti="j2", sid="s1", user_id="u", iat=clock.now)
        assert not await check(jti="j2", sid="s2", user_id="u", iat=clock.now)
        assert not await check(jti="s1", sid="j1", user_id=None, iat=None)
        assert not await check(jti=None, sid=None, user_id=None, iat=None)

    async def test_user_watermark(self, store: Store, clock: FakeClock) -> None:
        """A user revocation covers what was issued before not_before; it never moves back."""
        t = clock.now
        await store.add_revocation("user", "u1", t + 600, t, not_before=t)
        await store.add_revocation("user", "u1", t + 600, t, not_before=t - 100)

        async def revoked(user_id: str, iat: float | None) -> bool:
            return await store.is_revoked(jti=None, sid=None, user_id=user_id, iat=iat)

        assert await revoked("u1", t - 1)
        assert not await revoked("u1", t)
        assert not await revoked("u1", None)
        assert not await revoked("u2", t - 1)

    async def test_user_watermark_defaults_to_now(self, store: Store, clock: FakeClock) -> None:
        """A user revocation without not_before revokes what was issued before now."""
        event = await store.add_revocation("user", "u1", clock.now + 60, clock.now)
        assert clock.now == event.not_before
        assert await store.is_revoked(jti=None, sid=None, user_id="u1", iat=clock.now - 1)

    async def test_unknown_revocation_kind(self, store: Store, clock: FakeClock) -> None:
        """A revocation kind outside jti/sid/user/session is a ValidationError; nothing logged."""
        with pytest.raises(ValidationError):
            await store.add_revocation("token", "x", clock.now, clock.now)  # type: ignore[arg-type]
        assert [] == await store.revocations_since(0)

    # -- keys -----------------------------------------------------------------------------

    async def test_keys(self, store: Store) -> None:
        """Keys list oldest first; activate_key demotes the former active key to verify."""
        await store.add_key(KeyRecord("k2", "EdDSA", '{"k":2}', 2.0, "active"))
        await store.add_key(KeyRecord("k1", "ES256", '{"k":1}', 1.0, "verify"))
        await store.add_key(KeyRecord("k3", "EdDSA", '{"k":3}', 2.0, "verify"))
        await store.activate_key("k3")
        states = [(k.kid, k.status) for k in await store.list_keys()]
        assert [("k1", "verify"), ("k2", "verify"), ("k3", "active")] == states
        await store.set_key_status("k1", "retired")
        assert KeyRecord("k1", "ES256", '{"k":1}', 1.0, "retired") == (await store.list_keys())[0]

    async def test_key_errors(self, store: Store) -> None:
        """A duplicate kid conflicts; unknown kids are NotFound; a bad status is invalid."""
        await store.add_key(KeyRecord("k1", "EdDSA", "{}", 1.0, "active"))
        with pytest.raises(StoreConflict):
            await store.add_key(KeyRecord("k1", "EdDSA", "{}", 2.0, "verify"))
        with pytest.raises(NotFound):
            await store.activate_key("nope")
        with pytest.raises(NotFound):
            await store.set_key_status("nope", "retired")
        with pytest.raises(ValidationError):
            await store.set_key_status("k1", "bogus")  # type: ignore[arg-type]
        assert ["active"] == [k.status for k in await store.list_keys()]

    # -- throttling -----------------------------------------------------------------------

    async def test_throttle_window(self, store: Store, clock: FakeClock) -> None:
        """hit counts failures in (now - window, now]; older ones fall out."""
        t = clock.now
        assert 1 == await store.hit("ip:1", t, 60)
        assert 2 == await store.hit("ip:1", t + 30, 60)
        assert (2, t) == await store.count("ip:1", t + 59, 60)
        assert (1, t + 30) == await store.count("ip:1", t + 60, 60)
        assert 2 == await store.hit("ip:1", t + 60, 60)
        assert (0, None) == await store.count("ip:2", t, 60)

    async def test_throttle_reset(self, store: Store, clock: FakeClock) -> None:
        """reset forgets a key's failures and no other key's."""
        await store.hit("a", clock.now, 60)
        await store.hit("a", clock.now, 60)
        await store.hit("b", clock.now, 60)
        await store.reset("a")
        assert (0, None) == await store.count("a", clock.now, 60)
        assert (1, clock.now) == await store.count("b", clock.now, 60)

    # -- audit ----------------------------------------------------------------------------

    async def test_audit(self, store: Store, clock: FakeClock) -> None:
        """Audit events list newest first with store-assigned ids, filtered and limited."""
        t = clock.now
        await store.append_audit(AuditEvent("login", "ok", t, user_id="u1", ip="192.0.2.1"))
        await store.append_audit(AuditEvent("login", "failed", t + 1, detail="bad password"))
        await store.append_audit(AuditEvent("logout", "ok", t + 2, user_id="u1", sid="s1"))
        events = await store.list_audit()
        assert ["logout", "login", "login"] == [e.action for e in events]
        assert all(e.id is not None for e in events)
        assert len({e.id for e in events}) == 3
        assert (
            AuditEvent("login", "failed", t + 1, detail="bad password", id=events[1].id)
            == (events[1])
        )
        mine = await store.list_audit(user_id="u1", limit=1)
        assert [("logout", "s1")] == [(e.action, e.sid) for e in mine]

    # -- purge ----------------------------------------------------------------------------

    async def test_purge_expired(self, store: Store, clock: FakeClock) -> None:
        """Only records dead for longer than PURGE_MARGIN go; purge counts them."""
        t = clock.now
        await store.create_session(a_session("old", t, ttl=10))
        await store.create_session(a_session("idle-old", t, idle_ttl=10))
        await store.create_session(a_session("recent", t + 20, ttl=10))
        await store.create_family(a_family("f-old", t, ttl=10))
        await store.create_family(a_family("f-live", t, ttl=PURGE_MARGIN))
        await rotate(store, "f-old", 0, t)
        await store.add_revocation("jti", "j-old", t + 10, t)
        await store.add_revocation("user", "u-old", t + 10, t, not_before=t)
        kept = await store.add_revocation("jti", "j-live", t + 30, t)
        clock.advance(10 + PURGE_MARGIN + 1)
        assert 5 == await store.purge_expired(clock.now)
        assert None is await store.get_session(h("old"))
        assert None is await store.get_session(h("idle-old"))
        assert await store.get_session(h("recent")) is not None
        assert None is await store.get_family("f-old")
        assert await store.get_family("f-live") is not None
        assert [kept] == await store.revocations_since(0)
        assert not await store.is_revoked(jti="j-old", sid=None, user_id="u-old", iat=t - 1)
        assert await store.is_revoked(jti="j-live", sid=None, user_id=None, iat=None)
        assert 0 == await store.purge_expired(clock.now)

    async def test_purge_throttle_hits(self, store: Store, clock: FakeClock) -> None:
        """Throttle hits older than PURGE_MARGIN are purged and counted."""
        await store.hit("k", clock.now, PURGE_MARGIN * 2)
        clock.advance(PURGE_MARGIN + 1)
        await store.hit("k", clock.now, PURGE_MARGIN * 2)
        assert 1 == await store.purge_expired(clock.now)
        assert (1, clock.now) == await store.count("k", clock.now, PURGE_MARGIN * 2)

    async def test_login_trust_outlives_the_purge(self, store: Store, clock: FakeClock) -> None:
        """A login's trust mark (a throttle entry dated when the trust ends) survives the
        daily purge for TRUST_TTL, then lapses; a plain hit dated now would not survive."""
        throttle = LoginThrottle(store, account_limit=1, account_window=int(HOUR), clock=clock)
        await throttle.success("u@example.com", "192.0.2.7")
        await store.hit("plain", clock.now, TRUST_TTL)  # the naive mark, for contrast
        clock.advance(PURGE_MARGIN + HOUR)
        await store.purge_expired(clock.now)
        assert (0, None) == await store.count("plain", clock.now, TRUST_TTL)
        await throttle.failure("u@example.com", "198.51.100.1")  # the account is capped
        with pytest.raises(RateLimited):
            await throttle.check("u@example.com", "198.51.100.2")
        await throttle.check("u@example.com", "192.0.2.7")  # still trusted after the purge
        clock.advance(TRUST_TTL - PURGE_MARGIN - HOUR)
        await store.purge_expired(clock.now)
        await throttle.failure("u@example.com", "198.51.100.1")
        with pytest.raises(RateLimited):
            await throttle.check("u@example.com", "192.0.2.7")  # 30 days on: trust lapsed

    # -- concurrency ------------------------------------------------------------------------

    async def _race_rotations(
        self, store: Store, now: float, grace: float, n: int = 20
    ) -> list[str]:
        statuses: list[str] = []

        async def one(i: int) -> None:
            result = await store.rotate_refresh(
                "f1", h("f1-0"), h(f"winner-{i}"), f"sealed-{i}", now, grace
            )
            statuses.append(result.status)

        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(one, i)
        return statuses

    async def test_concurrent_rotation_with_grace(self, store: Store, clock: FakeClock) -> None:
        """Of 20 concurrent rotations of one secret, one rotates and the rest get grace."""
        await store.create_family(a_family("f1", clock.now))
        statuses = await self._race_rotations(store, clock.now, grace=10)
        assert (1, 19) == (statuses.count("rotated"), statuses.count("grace"))
        family = await store.get_family("f1")
        assert family is not None
        winner = [i for i in range(20) if family.current_hash == h(f"winner-{i}")]
        assert (1, 1, False) == (len(winner), family.generation, family.revoked)
        assert f"sealed-{winner[0]}" == family.sealed_successor

    async def test_concurrent_rotation_without_grace(self, store: Store, clock: FakeClock) -> None:
        """Without grace, of 20 concurrent rotations one wins, one is reuse, the rest revoked."""
        await store.create_family(a_family("f1", clock.now))
        statuses = await self._race_rotations(store, clock.now, grace=0)
        counts = tuple(statuses.count(s) for s in ("rotated", "reused", "revoked"))
        assert (1, 1, 18) == counts
        family = await store.get_family("f1")
        assert family is not None
        assert (1, True) == (family.generation, family.revoked)
        assert 1 == sum(family.current_hash == h(f"winner-{i}") for i in range(20))

    async def test_concurrent_create_user(self, store: Store) -> None:
        """Of 20 concurrent sign-ups with one email, exactly one succeeds."""
        outcomes: list[str] = []

        async def one(i: int) -> None:
            try:
                await store.create_user(a_user(i, email="race@example.com"))
            except StoreConflict:
                outcomes.append("conflict")
            else:
                outcomes.append(f"user-{i}")

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        winners = [o for o in outcomes if o != "conflict"]
        assert (1, 19) == (len(winners), outcomes.count("conflict"))
        stored = await store.get_user_by_email("race@example.com")
        assert stored is not None
        assert winners[0] == stored.id

    async def test_concurrent_revocations_get_distinct_seqs(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Concurrent revocations all reach the log, each with its own seq, in seq order."""
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(store.add_revocation, "jti", f"j{i}", clock.now + 60, clock.now)
        log = await store.revocations_since(0)
        seqs = [e.seq for e in log]
        assert sorted(seqs) == seqs
        assert 20 == len(set(seqs))
        assert {f"j{i}" for i in range(20)} == {e.value for e in log}


class TestMemoryStore(StoreContract):
    """The in-process backend."""

    async def make_store(self, clock: FakeClock, tmp_path: Path) -> Store:
        return MemoryStore(clock=clock)


_RACE_CHILD = """
import sys, anyio
from gatepass.stores.sqlite import SQLiteStore

async def main() -> None:
    path, family_id, presented, new_hash, now = sys.argv[1:6]
    store = SQLiteStore(path)
    await store.open()
    print("ready", flush=True)
    sys.stdin.readline()
    result = await store.rotate_refresh(family_id, presented, new_hash, new_hash, float(now), 30)
    print(result.status, flush=True)
    await store.aclose()

anyio.run(main)
"""


def _race_processes(path: str, now: float, n: int) -> list[str]:
    """Start ``n`` processes on one file, release them at once, return their outcomes."""
    return release_together(
        [
            [sys.executable, "-c", _RACE_CHILD, path, "f1", h("f1-0"), h(f"proc-{i}"), str(now)]
            for i in range(n)
        ]
    )


class TestSQLiteStore(StoreContract):
    """The embedded backend, on a real file."""

    async def make_store(self, clock: FakeClock, tmp_path: Path) -> Store:
        return SQLiteStore(tmp_path / "store.db", clock=clock)

    async def make_peer(self, store: Store, clock: FakeClock, tmp_path: Path) -> Store:
        return SQLiteStore(tmp_path / "store.db", clock=clock)

    async def test_two_connections_rotate_atomically(
        self, store: Store, clock: FakeClock, tmp_path: Path
    ) -> None:
        """Two store objects on one file (no shared lock) still let only one rotation win."""
        other = SQLiteStore(tmp_path / "store.db", clock=clock)
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

    async def test_reader_sees_other_connections_commits(
        self, store: Store, clock: FakeClock, tmp_path: Path
    ) -> None:
        """A read right after another connection commits sees the commit (no stale snapshot)."""
        other = SQLiteStore(tmp_path / "store.db", clock=clock)
        try:
            for n in range(5):
                assert None is await store.get_user(f"user-{n}")
                await other.create_user(a_user(n))
                assert a_user(n) == await store.get_user(f"user-{n}")
                assert not await store.is_revoked(jti=f"j{n}", sid=None, user_id=None, iat=None)
                await other.add_revocation("jti", f"j{n}", clock.now + 60, clock.now)
                assert await store.is_revoked(jti=f"j{n}", sid=None, user_id=None, iat=None)
        finally:
            await other.aclose()

    @pytest.mark.slow
    async def test_processes_race_on_one_file(self, store: Store, clock: FakeClock) -> None:
        """Four OS processes rotating one family on one file: exactly one rotation wins."""
        assert isinstance(store, SQLiteStore)
        await store.create_family(a_family("f1", clock.now))
        outcomes = await anyio.to_thread.run_sync(_race_processes, store.path, clock.now, 4)
        assert (1, 3) == (outcomes.count("rotated"), outcomes.count("grace")), outcomes
        family = await store.get_family("f1")
        assert family is not None
        assert 1 == family.generation
        assert 1 == sum(family.current_hash == h(f"proc-{i}") for i in range(4))


# -- open_store -----------------------------------------------------------------------------


def test_open_store_memory() -> None:
    """memory:// opens a MemoryStore."""
    assert isinstance(open_store("memory://"), MemoryStore)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///gatepass.db", "gatepass.db"),
        ("sqlite:///data/auth.db", "data/auth.db"),
        ("sqlite:////var/lib/gatepass/auth.db", "/var/lib/gatepass/auth.db"),
        ("SQLite:///x.db", "x.db"),
    ],
)
def test_open_store_sqlite_paths(url: str, path: str) -> None:
    """sqlite:/// is followed by a relative path, sqlite://// by an absolute one."""
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert path == store.path


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite://host/x.db",
        "memory://name",
        "mysql://localhost/db",
        "gatepass.db",
        "",
    ],
)
def test_open_store_rejects(url: str) -> None:
    """URLs without a usable backend are a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        open_store(url)


def test_open_store_never_echoes_the_url() -> None:
    """The error for an unusable URL does not repeat credentials from it."""
    for url in ["mysql://admin:hunter2@db/auth", "x:hunter2@host://y", "ftp://u:hunter2@h"]:
        with pytest.raises(ConfigurationError) as info:
            open_store(url)
        assert "hunter2" not in str(info.value)
