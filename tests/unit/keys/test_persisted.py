"""Persisted keys: created on first start, kept, rotated and retired through a KeyStore."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gatepass.errors import ConfigurationError, InvalidKey, UnknownKey
from gatepass.keys import SigningKey, load_keyring, rotate_key
from gatepass.keys.persisted import retire_key
from gatepass.stores.base import KeyRecord, KeyStatus, KeyStore
from gatepass.tokens.jws import sign_compact, verify_compact
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeKeyStore:
    """An in-test KeyStore: a list of records, with the protocol's activate semantics."""

    def __init__(self) -> None:
        self.records: list[KeyRecord] = []

    async def add_key(self, record: KeyRecord) -> None:
        assert record.kid not in {r.kid for r in self.records}
        self.records.append(record)

    async def list_keys(self) -> list[KeyRecord]:
        return list(self.records)

    async def set_key_status(self, kid: str, status: KeyStatus) -> None:
        self.records = [
            dataclasses.replace(r, status=status) if r.kid == kid else r for r in self.records
        ]

    async def activate_key(self, kid: str) -> None:
        assert kid in {r.kid for r in self.records}
        self.records = [
            dataclasses.replace(r, status="active")
            if r.kid == kid
            else dataclasses.replace(r, status="verify")
            if r.status == "active"
            else r
            for r in self.records
        ]

    def status(self) -> dict[str, str]:
        return {r.kid: r.status for r in self.records}


@pytest.fixture
def store() -> FakeKeyStore:
    return FakeKeyStore()


def test_fake_store_implements_the_protocol(store: FakeKeyStore) -> None:
    """The fake satisfies the KeyStore protocol (checked by mypy through this assignment)."""
    typed: KeyStore = store
    assert typed is store


async def test_first_load_creates_and_stores_an_active_key(
    store: FakeKeyStore, clock: FakeClock
) -> None:
    """With an empty store, a key of the requested alg is generated, stored and active."""
    ring = await load_keyring(store, alg="EdDSA", clock=clock)
    (record,) = store.records
    assert (ring.active.kid, "EdDSA", "active", clock.now) == (
        record.kid,
        record.alg,
        record.status,
        record.created_at,
    )
    assert ring.active.private_jwk() == json.loads(record.private_jwk)


async def test_keys_are_kept_across_loads(store: FakeKeyStore, clock: FakeClock) -> None:
    """A second load (another instance, a restart) uses the stored key; nothing new is made."""
    first = await load_keyring(store, alg="ES256", clock=clock)
    token = sign_compact({"sub": "a"}, first.active)
    second = await load_keyring(store, alg="ES256", clock=clock)
    assert first.active.kid == second.active.kid
    assert 1 == len(store.records)
    assert first.active.kid == verify_compact(token, second).kid


async def test_alias_name_is_kept_in_the_header(store: FakeKeyStore, clock: FakeClock) -> None:
    """Configured as "Ed25519", the stored key keeps that name, and tokens carry it."""
    ring = await load_keyring(store, alg="Ed25519", clock=clock)
    token = sign_compact({"sub": "a"}, ring.active)
    assert "Ed25519" == verify_compact(token, ring).header["alg"]
    again = await load_keyring(store, alg="Ed25519", clock=clock)
    assert ring.active.kid == again.active.kid


async def test_changing_alg_adds_a_new_active_key(store: FakeKeyStore, clock: FakeClock) -> None:
    """If the active key has another alg, a key of the new alg is made active; the old verifies."""
    old_ring = await load_keyring(store, alg="ES256", clock=clock)
    token = sign_compact({"sub": "a"}, old_ring.active)
    ring = await load_keyring(store, alg="HS256", clock=clock)
    assert "HS256" == ring.active.alg
    assert {old_ring.active.kid: "verify", ring.active.kid: "active"} == store.status()
    assert old_ring.active.kid == verify_compact(token, ring).kid


async def test_rotate_key_activates_a_new_key(store: FakeKeyStore, clock: FakeClock) -> None:
    """rotate_key stores a new active key; the former one is kept as verify and still verifies."""
    ring = await load_keyring(store, alg="EdDSA", clock=clock)
    token = sign_compact({"sub": "a"}, ring.active)
    clock.advance(60)
    new = await rotate_key(store, alg="EdDSA", clock=clock)
    assert {ring.active.kid: "verify", new.kid: "active"} == store.status()
    assert clock.now == store.records[-1].created_at
    reloaded = await load_keyring(store, alg="EdDSA", clock=clock)
    assert new.kid == reloaded.active.kid
    assert ring.active.kid == verify_compact(token, reloaded).kid


async def test_retire_key_stops_verification_after_reload(
    store: FakeKeyStore, clock: FakeClock
) -> None:
    """A retired key is not loaded again, so its tokens stop verifying."""
    ring = await load_keyring(store, alg="ES256", clock=clock)
    token = sign_compact({"sub": "a"}, ring.active)
    await rotate_key(store, alg="ES256", clock=clock)
    await retire_key(store, ring.active.kid)
    assert "retired" == store.status()[ring.active.kid]
    reloaded = await load_keyring(store, alg="ES256", clock=clock)
    assert ring.active.kid not in reloaded.kids
    with pytest.raises(UnknownKey):
        verify_compact(token, reloaded)


async def test_retire_refuses_active_and_unknown_keys(
    store: FakeKeyStore, clock: FakeClock
) -> None:
    """The active key cannot be retired, nor can a kid the store does not have."""
    ring = await load_keyring(store, alg="ES256", clock=clock)
    with pytest.raises(ConfigurationError):
        await retire_key(store, ring.active.kid)
    with pytest.raises(ConfigurationError):
        await retire_key(store, "unknown")
    assert {ring.active.kid: "active"} == store.status()


async def test_unsupported_alg_is_refused(store: FakeKeyStore, clock: FakeClock) -> None:
    """load_keyring and rotate_key refuse algorithms outside the allow-list."""
    with pytest.raises(InvalidKey):
        await load_keyring(store, alg="none", clock=clock)
    with pytest.raises(InvalidKey):
        await rotate_key(store, alg="PS256", clock=clock)
    assert [] == store.records


async def test_corrupted_stored_key_is_an_error(store: FakeKeyStore, clock: FakeClock) -> None:
    """A stored key that does not parse, or does not match its record, is InvalidKey."""
    await load_keyring(store, alg="ES256", clock=clock)
    record = store.records[0]
    store.records[0] = dataclasses.replace(record, private_jwk='{"kty":"EC"}')
    with pytest.raises(InvalidKey):
        await load_keyring(store, alg="ES256", clock=clock)
    store.records[0] = dataclasses.replace(record, alg="EdDSA")
    with pytest.raises(InvalidKey):
        await load_keyring(store, alg="ES256", clock=clock)
    public_only = json.dumps(SigningKey.from_jwk(record.private_jwk).public_jwk())
    store.records[0] = dataclasses.replace(record, private_jwk=public_only)
    with pytest.raises(InvalidKey):
        await load_keyring(store, alg="ES256", clock=clock)


class RacingKeyStore(FakeKeyStore):
    """A store where another instance activates its own key right after ours."""

    def __init__(self) -> None:
        super().__init__()
        self.rival = SigningKey.generate("ES256")

    async def activate_key(self, kid: str) -> None:
        await super().activate_key(kid)
        if self.rival.kid not in {r.kid for r in self.records}:
            text = json.dumps(self.rival.private_jwk())
            await self.add_key(KeyRecord(self.rival.kid, "ES256", text, 0.0, "verify"))
            await super().activate_key(self.rival.kid)


async def test_concurrent_first_start_converges_on_the_store_choice(clock: FakeClock) -> None:
    """When two instances create a key at once, the store's active key wins; ours verifies."""
    store = RacingKeyStore()
    ring = await load_keyring(store, alg="ES256", clock=clock)
    assert store.rival.kid == ring.active.kid
    assert 2 == len(ring.kids)
    (ours,) = [kid for kid in ring.kids if kid != store.rival.kid]
    assert "verify" == store.status()[ours]
