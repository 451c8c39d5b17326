"""The per-request fast path (RequestAuth.cached_principal) never disagrees with the slow one.

``cached_principal()`` answers from process memory alone (a verified-token or session
cache hit, revocation from the feed's set) or returns None; whenever it returns a
Principal, ``await principal()`` on the same request returns that same Principal.
Every case below is checked both ways on fresh RequestAuth objects, so a credential
that the fast path must not vouch for (revoked, expired, retired key, stale feed,
unusual header form) is shown to be answered by the slow path instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gatepass.asgi.middleware import RequestAuth
from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings, SessionSettings, TokenSettings
from gatepass.errors import (
    AuthenticationError,
    CSRFError,
    MissingCredential,
    PermissionDenied,
    SessionExpired,
    TokenExpired,
    TokenRevoked,
    TokenTooLarge,
    UnknownKey,
)
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.principal import Principal
from gatepass.stores.memory import MemoryStore
from gatepass.transports.cookie import CookieTransport
from gatepass.transports.csrf import CSRFPolicy
from tests.conftest import FAST_PASSWORDS, FakeClock

pytestmark = pytest.mark.anyio

TRANSPORT = CookieTransport(CookieSettings(secure=False))
POLICY = CSRFPolicy(["https://app.example"])


@dataclass
class Logins:
    auth: Authenticator
    bearer: str  # an access token (Bearer)
    cookie_token: str  # an access token of a cookie login
    session: str  # a session id
    user_id: str


@pytest.fixture
async def logins(keyring: KeyRing, clock: FakeClock) -> AsyncIterator[Logins]:
    """An authenticator as the server builds it (session cache on, feed synced)."""
    store = MemoryStore(clock=clock)
    auth = Authenticator(
        store=store,
        keyring=keyring,
        tokens=TokenSettings(issuer="https://auth.test", audience="gatepass", access_ttl=600),
        sessions=SessionSettings(idle_ttl=1800, absolute_ttl=43200, touch_interval=60, cache_ttl=5),
        passwords=FAST_PASSWORDS,
        clock=clock,
    )
    user = await auth.register("a@example.com", "correct horse battery")
    bearer = (await auth.login_tokens(user)).access_token
    cookie_token = (await auth.login_tokens(user, transport="cookie")).access_token
    session = (await auth.login_session(user)).session_id
    await auth.feed.sync_once()
    yield Logins(auth, bearer, cookie_token, session, user.id)
    await store.aclose()


def _request(auth: Authenticator, *headers: tuple[str, str], method: str = "GET") -> RequestAuth:
    raw = [(b"host", b"api.example")] + [(n.encode(), v.encode()) for n, v in headers]
    return RequestAuth(auth, POLICY, method, raw_headers=raw, transport=TRANSPORT)


async def _both(auth: Authenticator, *headers: tuple[str, str]) -> tuple[Principal | None, object]:
    """(fast answer, slow answer or the exception it raised), each on a fresh request."""
    fast = _request(auth, *headers).cached_principal()
    try:
        slow: object = await _request(auth, *headers).principal()
    except AuthenticationError as exc:
        slow = exc
    if fast is not None:
        assert fast is slow, "the fast path vouched for what the slow path does not return"
    return fast, slow


def _cookies(**values: str) -> tuple[str, str]:
    return ("cookie", "; ".join(f"gp_{name}={value}" for name, value in values.items()))


async def _vouched(auth: Authenticator, *headers: tuple[str, str]) -> Principal:
    """Two requests; the second is answered by the fast path. Its Principal."""
    await _both(auth, *headers)
    fast, slow = await _both(auth, *headers)
    assert isinstance(slow, Principal)
    assert fast is slow
    return slow


async def _refused(auth: Authenticator, header: tuple[str, str], error: type[Exception]) -> None:
    """The fast path does not vouch; the slow path raises ``error``."""
    fast, slow = await _both(auth, header)
    assert fast is None
    assert isinstance(slow, error)


async def test_bearer_hit_is_answered_from_memory(logins: Logins) -> None:
    """A Bearer token verified once is a fast-path hit; a cookie beside it changes nothing."""
    auth = logins.auth
    header = ("authorization", f"Bearer {logins.bearer}")
    first, verified = await _both(auth, header)  # the first request verifies the token
    assert first is None
    assert isinstance(verified, Principal)
    fast, slow = await _both(auth, header, _cookies(session=logins.session))
    assert isinstance(slow, Principal)
    assert (fast, slow.source, slow.method) == (slow, "bearer", "jwt")


async def test_session_and_access_cookie_hits(logins: Logins) -> None:
    """Session cookie alone: the session; with an access cookie too, the access token."""
    auth = logins.auth
    session = _cookies(session=logins.session)
    both = _cookies(session=logins.session, access=logins.cookie_token)
    for headers in (session, both):
        await _both(auth, headers)  # fills the caches
    fast_session, _ = await _both(auth, session)
    fast_access, _ = await _both(auth, both)
    assert fast_session is not None
    assert fast_access is not None
    assert ("session", "cookie") == (fast_session.method, fast_session.source)
    assert ("jwt", "cookie") == (fast_access.method, fast_access.source)


@pytest.mark.parametrize(
    "value",
    [
        "bearer {t}",  # scheme in another case: valid, but for the full parser
        "Bearer  {t}",  # two spaces: valid, but for the full parser
        " Bearer {t}",
        "Bearer {t}x",  # another token: not in the cache
        "Bearer {t},",  # malformed
        "Basic dTpw",  # no Bearer credential at all
    ],
)
async def test_unusual_authorization_values_take_the_slow_path(logins: Logins, value: str) -> None:
    """Only the exact usual form is looked up in memory; the parser decides the rest."""
    auth = logins.auth
    header = ("authorization", value.format(t=logins.bearer))
    await _both(auth, ("authorization", f"Bearer {logins.bearer}"))
    fast, _ = await _both(auth, header, _cookies(session=logins.session))
    assert fast is None


async def test_oversized_bearer_is_refused_by_the_slow_path(logins: Logins) -> None:
    header = ("authorization", "Bearer " + "a" * TRANSPORT.max_value_bytes)
    assert (None, TokenTooLarge) == tuple(
        type(x) if isinstance(x, Exception) else x for x in await _both(logins.auth, header)
    )


async def test_no_credential(logins: Logins) -> None:
    fast, slow = await _both(logins.auth, _cookies(csrf="x"))
    assert fast is None
    assert isinstance(slow, MissingCredential)


@pytest.mark.parametrize("how", ["jti", "sid", "user", "logout"])
async def test_revocation_between_two_hits_is_seen(
    logins: Logins, how: str, clock: FakeClock
) -> None:
    """A token the fast path vouched for is refused once revoked, by this instance or by
    another one whose revocation arrives through the feed (the set's generation moves)."""
    auth = logins.auth
    header = ("authorization", f"Bearer {logins.bearer}")
    principal = await _vouched(auth, header)
    elsewhere = Authenticator(store=auth.store, keyring=auth.keyring, clock=clock)
    clock.advance(1)  # the user watermark is in whole seconds, after the token's iat
    if how == "jti":
        assert principal.jti is not None
        await elsewhere.revoker.revoke_jti(principal.jti, expires_at=principal.expires_at)
    elif how == "sid":
        await elsewhere.revoker.revoke_sid(principal.sid, expires_at=principal.expires_at)
    elif how == "user":
        await elsewhere.logout_all(principal.user_id)
    else:
        await auth.logout(principal)  # this instance: applied to its set at once
    await auth.feed.sync_once()
    await _refused(auth, header, TokenRevoked)


async def test_an_unrelated_revocation_does_not_refuse(logins: Logins, clock: FakeClock) -> None:
    """After another login's revocation the token is checked again, and still passes."""
    auth = logins.auth
    header = ("authorization", f"Bearer {logins.bearer}")
    await _vouched(auth, header)
    await auth.revoker.revoke_jti("someone-else", expires_at=clock.now + 60)
    fast, slow = await _both(auth, header)
    assert fast is not None
    assert fast is slow


async def test_session_revocation_between_two_hits_is_seen(
    logins: Logins, clock: FakeClock
) -> None:
    auth = logins.auth
    cookie = _cookies(session=logins.session)
    principal = await _vouched(auth, cookie)
    elsewhere = Authenticator(store=auth.store, keyring=auth.keyring, clock=clock)
    await elsewhere.logout(principal)
    await auth.feed.sync_once()
    await _refused(auth, cookie, AuthenticationError)


async def test_expiry_and_deadlines_leave_the_fast_path(logins: Logins, clock: FakeClock) -> None:
    """Past the access token's exp + leeway, and past the session's idle timeout."""
    auth = logins.auth
    bearer = ("authorization", f"Bearer {logins.bearer}")
    cookie = _cookies(session=logins.session)
    await _vouched(auth, bearer)
    await _vouched(auth, cookie)
    clock.advance(600 + auth.token_settings.leeway)
    await _refused(auth, bearer, TokenExpired)
    clock.advance(1800)
    await auth.feed.sync_once()
    await _refused(auth, cookie, SessionExpired)


async def test_a_retired_key_leaves_the_fast_path(logins: Logins) -> None:
    """Retiring the key that signed a cached token refuses it at once (the ring changed)."""
    auth = logins.auth
    header = ("authorization", f"Bearer {logins.bearer}")
    await _vouched(auth, header)
    old = auth.keyring.active.kid
    auth.keyring.rotate(SigningKey.generate("EdDSA"))
    await _vouched(auth, header)  # rotation keeps the old key verifying
    auth.keyring.retire(old)
    await _refused(auth, header, UnknownKey)


async def test_a_stale_feed_leaves_the_fast_path(logins: Logins) -> None:
    """With the feed stale nothing is vouched for from memory; the store answers."""
    auth = logins.auth
    bearer = ("authorization", f"Bearer {logins.bearer}")
    cookie = _cookies(session=logins.session)
    await _vouched(auth, bearer)
    await _vouched(auth, cookie)
    auth.feed.staleness = 0.0
    for header in (bearer, cookie):
        fast, slow = await _both(auth, header)
        assert fast is None
        assert isinstance(slow, Principal)
    auth.feed.staleness = 2.0
    await auth.feed.sync_once()
    await _vouched(auth, bearer)


async def test_each_request_counts_once_in_the_cache_metrics(logins: Logins) -> None:
    """A request counts one hit or one miss, whichever path answers it."""
    auth = logins.auth
    cache = auth.access.cache
    header = ("authorization", f"Bearer {logins.bearer}")
    before = (cache.hits, cache.misses)
    await _request(auth, header).principal()  # a miss (verified), then a fast hit
    await _request(auth, header).principal()
    auth.feed.staleness = 0.0
    await _request(auth, header).principal()  # a hit served by the slow path
    assert (before[0] + 2, before[1] + 1) == (cache.hits, cache.misses)


async def test_cached_require_returns_only_what_require_returns(logins: Logins) -> None:
    """No cookie login on an unsafe method (a CSRF check is due), none without the scopes."""
    auth = logins.auth
    bearer = ("authorization", f"Bearer {logins.bearer}")
    cookie = _cookies(session=logins.session)
    principal = await _vouched(auth, bearer)
    await _vouched(auth, cookie)
    granted = sorted(principal.scopes)
    answered = _request(auth, bearer, method="POST").cached_require(granted)
    assert answered is principal
    assert answered is await _request(auth, bearer, method="POST").require(granted)
    session = _request(auth, cookie).cached_require()
    assert session is not None
    assert session is await _request(auth, cookie).require()
    assert _request(auth, cookie, method="POST").cached_require() is None
    with pytest.raises(CSRFError):
        await _request(auth, cookie, method="POST").require()
    assert _request(auth, bearer).cached_require(["admin:all"]) is None
    with pytest.raises(PermissionDenied):
        await _request(auth, bearer).require(["admin:all"])
    assert _request(auth, ("authorization", "Bearer nope")).cached_require() is None
