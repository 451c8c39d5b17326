"""Refresh tokens: format, hashing at rest, rotation, grace, reuse detection, lifetime."""

from __future__ import annotations

import anyio
import pytest

from gatepass._utils import hash_token
from gatepass.config import TokenSettings
from gatepass.errors import (
    GatepassError,
    MalformedToken,
    RefreshTokenReused,
    TokenError,
    TokenExpired,
    TokenRevoked,
)
from gatepass.revocation import Revoker
from gatepass.stores.memory import MemoryStore
from gatepass.tokens.refresh import RefreshTokens, parse_refresh_token
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def tokens(memory_store: MemoryStore, clock: FakeClock) -> RefreshTokens:
    settings = TokenSettings(refresh_ttl=1000, refresh_grace=10)
    return RefreshTokens(memory_store, Revoker(memory_store, clock=clock), settings, clock=clock)


async def test_token_shape_and_hash_at_rest(
    tokens: RefreshTokens, memory_store: MemoryStore
) -> None:
    """A refresh token is <family>.<secret>; the store holds only the secret's SHA-256."""
    issued = await tokens.start("u1")
    family_id, secret = parse_refresh_token(issued.token)
    assert family_id == issued.family.family_id
    record = await memory_store.get_family(family_id)
    assert record is not None
    assert hash_token(secret) == record.current_hash
    assert secret not in repr(record)


async def test_rotation_spends_the_old_token(tokens: RefreshTokens, clock: FakeClock) -> None:
    """Each refresh returns a new token; the old one is spent (reuse after grace)."""
    first = await tokens.start("u1")
    second = await tokens.rotate(first.token)
    assert second.token != first.token
    assert first.family.family_id == second.family.family_id
    third = await tokens.rotate(second.token)
    assert third.token not in (first.token, second.token)
    clock.advance(11)
    with pytest.raises(RefreshTokenReused):
        await tokens.rotate(second.token)


async def test_reuse_revokes_the_family_and_its_sid(
    tokens: RefreshTokens, memory_store: MemoryStore, clock: FakeClock
) -> None:
    """Presenting a spent token revokes the whole family, including the live successor."""
    first = await tokens.start("u1")
    second = await tokens.rotate(first.token)
    clock.advance(11)
    with pytest.raises(RefreshTokenReused) as info:
        await tokens.rotate(first.token)
    assert first.family.family_id == info.value.family
    with pytest.raises(TokenRevoked):
        await tokens.rotate(second.token)
    sid = first.family.family_id
    assert await memory_store.is_revoked(jti=None, sid=sid, user_id=None, iat=None)


async def test_reuse_of_an_old_generation_is_detected(
    tokens: RefreshTokens, clock: FakeClock
) -> None:
    """Reuse of any earlier generation (not just the last) is detected."""
    t0 = await tokens.start("u1")
    t1 = await tokens.rotate(t0.token)
    t2 = await tokens.rotate(t1.token)
    await tokens.rotate(t2.token)
    with pytest.raises(RefreshTokenReused):
        await tokens.rotate(t0.token)


async def test_grace_window_returns_the_same_successor(tokens: RefreshTokens) -> None:
    """Within the grace window a retry of the just-spent token gets the same successor."""
    first = await tokens.start("u1")
    a = await tokens.rotate(first.token)
    b = await tokens.rotate(first.token)
    assert a.token == b.token
    c = await tokens.rotate(a.token)  # the successor is live and rotates normally
    assert c.token != a.token


async def test_concurrent_refreshes_give_one_chain(tokens: RefreshTokens) -> None:
    """20 concurrent refreshes of one token all get the same successor: one chain."""
    first = await tokens.start("u1")
    results: list[str] = []

    async def refresh() -> None:
        results.append((await tokens.rotate(first.token)).token)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(refresh)
    assert 1 == len(set(results))
    assert 20 == len(results)


async def test_guessed_secret_for_a_public_family_id_changes_nothing(
    tokens: RefreshTokens,
) -> None:
    """A forged secret for a known family id is refused and does not revoke the family."""
    issued = await tokens.start("u1")
    forged = f"{issued.family.family_id}.{'A' * 43}"
    with pytest.raises(TokenError) as info:
        await tokens.rotate(forged)
    assert "invalid_token" == info.value.code
    assert (await tokens.rotate(issued.token)).token


async def test_absolute_lifetime(tokens: RefreshTokens, clock: FakeClock) -> None:
    """Rotation never extends the family past its absolute lifetime."""
    token = (await tokens.start("u1")).token
    for _ in range(9):
        clock.advance(100)
        token = (await tokens.rotate(token)).token
    clock.advance(100)
    with pytest.raises(TokenExpired):
        await tokens.rotate(token)


async def test_revoke(tokens: RefreshTokens) -> None:
    """A revoked family refuses its live token."""
    issued = await tokens.start("u1")
    await tokens.revoke(issued.family.family_id)
    with pytest.raises(TokenRevoked):
        await tokens.rotate(issued.token)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        ".",
        "a.b",
        "A" * 22 + "." + "A" * 42,
        "A" * 22 + ".." + "A" * 43,
        "x" * 10_000,
        "A" * 22 + "." + "A" * 42 + "=",
        "eyJhbGciOiJFZERTQSJ9.e30.sig",
    ],
)
async def test_malformed_tokens(tokens: RefreshTokens, bad: str) -> None:
    """Anything but <22 chars>.<43 chars> of base64url is MalformedToken."""
    with pytest.raises(MalformedToken):
        await tokens.rotate(bad)


async def test_every_failure_is_a_gatepass_error(tokens: RefreshTokens) -> None:
    """Unknown families are a TokenError, never a KeyError or similar."""
    with pytest.raises(GatepassError):
        await tokens.rotate("B" * 22 + "." + "C" * 43)
