"""The verified-token cache: never serves an expired, revoked or untrusted token; bounded."""

from __future__ import annotations

import pytest

from gatepass.authenticator import Authenticator
from gatepass.config import TokenSettings
from gatepass.errors import (
    InvalidSignature,
    StoreUnavailable,
    TokenExpired,
    TokenRevoked,
    UnknownKey,
)
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.access import AccessTokens
from gatepass.transports.base import Credential
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def tokens(keyring: KeyRing, clock: FakeClock) -> AccessTokens:
    return AccessTokens(keyring, TokenSettings(access_ttl=60, leeway=5), clock=clock)


def test_hit_returns_the_verified_claims(tokens: AccessTokens) -> None:
    """A second verify of the same token is served from the cache (same claims object)."""
    token = tokens.issue("u1", "s1").token
    first = tokens.verify(token)
    assert 1 == len(tokens.cache)
    assert first is tokens.verify(token)


def test_expired_token_is_never_served(tokens: AccessTokens, clock: FakeClock) -> None:
    """Past exp + leeway a cached token raises TokenExpired and leaves the cache."""
    token = tokens.issue("u1", "s1").token
    tokens.verify(token)
    clock.advance(64)
    assert "u1" == tokens.verify(token).sub
    clock.advance(1)
    with pytest.raises(TokenExpired):
        tokens.verify(token)
    assert 0 == len(tokens.cache)


def test_retired_key_stops_cached_tokens(tokens: AccessTokens, keyring: KeyRing) -> None:
    """Retiring the signing key refuses its cached tokens at once."""
    token = tokens.issue("u1", "s1").token
    tokens.verify(token)
    old = keyring.active.kid
    keyring.rotate(SigningKey.generate("EdDSA"))
    assert "u1" == tokens.verify(token).sub  # still trusted after rotation
    keyring.retire(old)
    with pytest.raises(UnknownKey):
        tokens.verify(token)


async def test_a_replaced_keyring_is_honoured_by_the_cache(tokens: AccessTokens) -> None:
    """An API service's TokenVerifier replaces the ring on each JWKS refresh: a cached
    token whose key the new ring lacks is refused, by the counting and the fast lookup."""
    token = tokens.issue("u1", "s1").token
    tokens.verify(token)
    assert tokens.cache.lookup(token, tokens.keyring) is not None
    other = SigningKey.generate("EdDSA")
    tokens.keyring = KeyRing([other], active=other.kid)  # as TokenVerifier.verify does
    assert tokens.cache.lookup(token, tokens.keyring) is None
    with pytest.raises(UnknownKey):
        tokens.verify(token)


def test_tampered_copy_is_not_a_hit(tokens: AccessTokens) -> None:
    """A token differing in one character misses the cache and fails verification."""
    token = tokens.issue("u1", "s1").token
    tokens.verify(token)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidSignature):
        tokens.verify(flipped)


def test_cache_is_bounded(keyring: KeyRing, clock: FakeClock) -> None:
    """The cache never holds more than max_entries tokens; the oldest go first."""
    tokens = AccessTokens(keyring, TokenSettings(), clock=clock, cache_size=3)
    issued = [tokens.issue("u1", f"s{i}").token for i in range(10)]
    for token in issued:
        tokens.verify(token)
    assert 3 == len(tokens.cache)
    assert "s9" == tokens.verify(issued[9]).sid


def test_cache_can_be_turned_off(keyring: KeyRing, clock: FakeClock) -> None:
    """cache_size=0 caches nothing."""
    tokens = AccessTokens(keyring, TokenSettings(), clock=clock, cache_size=0)
    token = tokens.issue("u1", "s1").token
    assert tokens.verify(token) is not tokens.verify(token)
    assert 0 == len(tokens.cache)


async def test_revoked_token_is_never_served_from_cache(authenticator: Authenticator) -> None:
    """Revocation is checked on every cache hit: a cached token is refused once revoked."""
    user = await authenticator.register("a@example.com", "correct horse battery")
    pair = await authenticator.login_tokens(user)
    creds = [Credential("bearer", pair.access_token)]
    principal = await authenticator.authenticate(creds)
    await authenticator.authenticate(creds)
    assert 1 == len(authenticator.access.cache)
    await authenticator.logout(principal)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate(creds)


# -- the per-request fast path: a cache hit answered from memory, revocation on every hit --


@pytest.fixture
async def fed(authenticator: Authenticator) -> Authenticator:
    """The authenticator with its revocation feed synced once (healthy)."""
    await authenticator.feed.sync_once()
    return authenticator


async def _bearer(auth: Authenticator, email: str = "a@example.com") -> list[Credential]:
    user = await auth.register(email, "correct horse battery")
    return [Credential("bearer", (await auth.login_tokens(user)).access_token)]


async def test_hit_shares_one_principal_per_source(fed: Authenticator) -> None:
    """Hits of one token return the same immutable Principal for the same source only."""
    creds = await _bearer(fed)
    first = await fed.authenticate(creds)
    assert first is await fed.authenticate(creds)
    cookie = await fed.jwt.authenticate(creds[0].value, source="cookie")
    assert ("bearer", "cookie") == (first.source, cookie.source)
    assert cookie is await fed.jwt.authenticate(creds[0].value, source="cookie")
    assert first.claims == cookie.claims
    with pytest.raises(TypeError):  # shared, so read-only: an app cannot alter it
        first.claims["sub"] = "someone else"  # type: ignore[index]
    assert first.user_id == (await fed.authenticate(creds)).claims["sub"]


@pytest.mark.parametrize("how", ["jti", "sid", "user"])
async def test_revocation_elsewhere_refuses_the_cached_token(
    fed: Authenticator, how: str, clock: FakeClock
) -> None:
    """A revocation by another instance (jti, sid, or the user's watermark) reaches the
    in-memory check of a cache hit through the feed: the token is refused."""
    creds = await _bearer(fed)
    principal = await fed.authenticate(creds)
    assert 1 == len(fed.access.cache)
    elsewhere = Authenticator(store=fed.store, keyring=fed.keyring, clock=clock)
    clock.advance(1)  # the watermark is in whole seconds, after the token's iat
    if how == "jti":
        assert principal.jti is not None
        await elsewhere.revoker.revoke_jti(principal.jti, expires_at=principal.expires_at)
    elif how == "sid":
        await elsewhere.revoker.revoke_sid(principal.sid, expires_at=principal.expires_at)
    else:
        await elsewhere.logout_all(principal.user_id)
    await fed.feed.sync_once()
    assert fed.feed.healthy
    with pytest.raises(TokenRevoked):
        await fed.authenticate(creds)


async def test_cached_token_past_exp_is_never_served(fed: Authenticator, clock: FakeClock) -> None:
    """The fast path checks exp + leeway on every hit, like verify."""
    creds = await _bearer(fed)
    await fed.authenticate(creds)
    clock.advance(fed.token_settings.access_ttl + fed.token_settings.leeway)
    with pytest.raises(TokenExpired):
        await fed.authenticate(creds)
    assert 0 == len(fed.access.cache)


async def test_stale_feed_makes_a_hit_ask_the_store_and_fail_closed(
    fed: Authenticator,
) -> None:
    """With the feed stale a hit's revocation goes to the store; with the store down the
    request fails (StoreUnavailable), never served from the cache."""
    creds = await _bearer(fed)
    await fed.authenticate(creds)
    fed.feed.staleness = 0.0  # the feed is now stale
    assert not fed.feed.healthy
    assert (await fed.authenticate(creds)).user_id
    await fed.store.aclose()
    with pytest.raises(StoreUnavailable):
        await fed.authenticate(creds)
