"""Shared fixtures: a settable fake clock, a memory store, a key ring, an Authenticator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gatepass.authenticator import Authenticator
from gatepass.config import PasswordSettings, SessionSettings, TokenSettings
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.stores.memory import MemoryStore

#: Cheap argon2id parameters for tests that are not about hashing cost.
FAST_PASSWORDS = PasswordSettings(time_cost=1, memory_cost=1024, parallelism=1)


class FakeClock:
    """A clock tests move by hand: ``clock()`` returns ``now``; ``advance(s)`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def memory_store(clock: FakeClock) -> AsyncIterator[MemoryStore]:
    store = MemoryStore(clock=clock)
    yield store
    await store.aclose()


@pytest.fixture(scope="session")
def ed_key() -> SigningKey:
    return SigningKey.generate("EdDSA")


@pytest.fixture
def keyring(ed_key: SigningKey) -> KeyRing:
    return KeyRing([ed_key], active=ed_key.kid)


@pytest.fixture
def authenticator(memory_store: MemoryStore, keyring: KeyRing, clock: FakeClock) -> Authenticator:
    return Authenticator(
        store=memory_store,
        keyring=keyring,
        tokens=TokenSettings(issuer="https://auth.test", audience="gatepass"),
        sessions=SessionSettings(idle_ttl=1800, absolute_ttl=43200, touch_interval=60),
        passwords=FAST_PASSWORDS,
        allowed_scopes=("read", "write"),
        clock=clock,
    )
