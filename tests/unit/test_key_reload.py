"""Signing keys reach running instances without a restart (shared store, reload)."""

from __future__ import annotations

import anyio
import pytest

from gatepass.authenticator import Authenticator
from gatepass.errors import UnknownKey
from gatepass.keys.persisted import load_keyring, reload_keyring, retire_key, rotate_key
from gatepass.stores.base import KeyRecord
from gatepass.stores.memory import MemoryStore
from gatepass.transports.base import Credential
from tests.conftest import FAST_PASSWORDS, FakeClock

pytestmark = pytest.mark.anyio


async def instance(store: MemoryStore, clock: FakeClock) -> Authenticator:
    """One server process: its own key ring loaded from the shared store."""
    keyring = await load_keyring(store, alg="EdDSA", clock=clock)
    return Authenticator(store=store, keyring=keyring, passwords=FAST_PASSWORDS, clock=clock)


async def test_reload_follows_rotation_and_retirement(clock: FakeClock) -> None:
    """reload_keyring adds the new key, signs with it, and drops retired keys."""
    store = MemoryStore(clock=clock)
    ring = await load_keyring(store, alg="EdDSA", clock=clock)
    old = ring.active
    assert not await reload_keyring(store, ring)
    new = await rotate_key(store, alg="EdDSA", clock=clock)
    assert await reload_keyring(store, ring)
    assert (new.kid, {old.kid, new.kid}) == (ring.active.kid, set(ring.kids))
    assert ring.get(old.kid) is old  # existing keys keep their objects
    await retire_key(store, old.kid, clock=clock)
    assert await reload_keyring(store, ring)
    assert (new.kid,) == ring.kids


async def test_token_of_a_new_key_reloads_on_demand(clock: FakeClock) -> None:
    """Instance A verifies a token signed by B's newer key by reloading once."""
    store = MemoryStore(clock=clock)
    a, b = await instance(store, clock), await instance(store, clock)
    await rotate_key(store, alg="EdDSA", clock=clock)  # `gatepass keys rotate`
    assert await b.reload_keys()
    user = await b.register("ada@example.com", "analytical engine 1843")
    token = (await b.login_tokens(user)).access_token
    principal = await a.authenticate([Credential("bearer", token)])
    assert user.id == principal.user_id


async def test_unknown_kids_cannot_make_every_request_read_the_store(clock: FakeClock) -> None:
    """Forged kids trigger at most one reload per interval; the token is refused."""

    class Counting(MemoryStore):
        lists = 0

        async def list_keys(self) -> list[KeyRecord]:
            self.lists += 1
            return await super().list_keys()

    store = Counting(clock=clock)
    a = await instance(store, clock)
    forged = "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA"
    before = store.lists
    for _ in range(5):
        with pytest.raises(UnknownKey):
            await a.authenticate([Credential("bearer", forged)])
    assert before + 1 == store.lists


async def test_retired_key_is_refused_after_reload(clock: FakeClock) -> None:
    """After rotation and retirement of the old key, its tokens are refused everywhere."""
    store = MemoryStore(clock=clock)
    a = await instance(store, clock)
    user = await a.register("ada@example.com", "analytical engine 1843")
    old_token = (await a.login_tokens(user)).access_token
    old_kid = a.keyring.active.kid
    await rotate_key(store, alg="EdDSA", clock=clock)
    await retire_key(store, old_kid, clock=clock)
    await a.reload_keys()
    with pytest.raises(UnknownKey):
        await a.authenticate([Credential("bearer", old_token)])


async def test_background_jobs_reload_keys_and_purge(clock: FakeClock) -> None:
    """run_background reloads the keys and purges dead records on its own schedule."""
    store = MemoryStore(clock=clock)
    a = await instance(store, clock)
    user = await a.register("ada@example.com", "analytical engine 1843")
    id_hash = (await a.login_session(user)).session.record.id_hash
    new = await rotate_key(store, alg="EdDSA", clock=clock)
    clock.advance(3 * 24 * 3600)  # the session is long dead, but still stored
    assert await store.get_session(id_hash) is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: a.run_background(key_refresh=0.01, purge=0.01))
        with anyio.fail_after(3):
            while a.keyring.active.kid != new.kid or await store.get_session(id_hash):
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()


async def test_a_ring_built_in_code_survives_reloads(clock: FakeClock) -> None:
    """Keys the store does not know (a KeyRing built in code) are never dropped by a reload."""
    from gatepass.keys.key import SigningKey
    from gatepass.keys.keyring import KeyRing

    store = MemoryStore(clock=clock)
    keys = [SigningKey.generate(alg) for alg in ("EdDSA", "HS256")]
    auth = Authenticator(
        store=store,
        keyring=KeyRing(keys, active=keys[0].kid),
        passwords=FAST_PASSWORDS,
        clock=clock,
    )
    user = await auth.register("ada@example.com", "analytical engine 1843")
    token = (await auth.login_tokens(user)).access_token
    assert not await auth.reload_keys()
    assert {k.kid for k in keys} == set(auth.keyring.kids)
    assert user.id == (await auth.authenticate([Credential("bearer", token)])).user_id
