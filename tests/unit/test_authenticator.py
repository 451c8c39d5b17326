"""Authenticator: both columns of the seed through the one API."""

from __future__ import annotations

import pytest

from gatepass.accounts import DISABLED_WATERMARK_TTL
from gatepass.authenticator import Authenticator
from gatepass.config import SessionSettings, TokenSettings
from gatepass.errors import (
    CSRFError,
    EmailTaken,
    InvalidCredentials,
    MissingCredential,
    NotFound,
    RefreshTokenReused,
    SessionNotFound,
    TokenError,
    TokenExpired,
    TokenRevoked,
    ValidationError,
    WeakPassword,
)
from gatepass.keys.keyring import KeyRing
from gatepass.stores.base import UserRecord
from gatepass.stores.memory import MemoryStore
from gatepass.transports.base import Credential
from tests.conftest import FAST_PASSWORDS, FakeClock

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery staple"


async def _user(auth: Authenticator, email: str = "alice@example.com") -> UserRecord:
    return await auth.register(email, PASSWORD)


def bearer(token: str) -> list[Credential]:
    return [Credential("bearer", token)]


async def test_register_normalises_and_refuses_duplicates(authenticator: Authenticator) -> None:
    """Emails are stored lower-cased; a second account with the same email is refused."""
    user = await _user(authenticator, "  Alice@Example.COM ")
    assert "alice@example.com" == user.email
    assert user.password_hash.startswith("$argon2id$")
    with pytest.raises(EmailTaken):
        await _user(authenticator, "alice@example.com")


@pytest.mark.parametrize("email", ["", "alice", "a@b", "a b@c.d", "@example.com", "x" * 300])
async def test_register_refuses_bad_email(authenticator: Authenticator, email: str) -> None:
    """Malformed emails are a ValidationError on the email field."""
    with pytest.raises(ValidationError) as info:
        await authenticator.register(email, PASSWORD)
    assert "email" == info.value.field


async def test_register_refuses_weak_password(authenticator: Authenticator) -> None:
    """The password policy runs before anything is stored."""
    with pytest.raises(WeakPassword):
        await authenticator.register("bob@example.com", "short")
    assert await authenticator.store.get_user_by_email("bob@example.com") is None


async def test_unknown_email_and_wrong_password_look_the_same(
    authenticator: Authenticator,
) -> None:
    """Unknown email and wrong password raise the same error with the same detail."""
    await _user(authenticator)
    with pytest.raises(InvalidCredentials) as wrong:
        await authenticator.verify_password("alice@example.com", "wrong password!")
    with pytest.raises(InvalidCredentials) as unknown:
        await authenticator.verify_password("nobody@example.com", PASSWORD)
    assert wrong.value.public_detail == unknown.value.public_detail
    assert (
        "alice@example.com"
        == (await authenticator.verify_password("ALICE@example.com", PASSWORD)).email
    )


async def test_session_column_end_to_end(authenticator: Authenticator) -> None:
    """Session login -> authenticate by cookie -> logout deletes it server-side."""
    user = await _user(authenticator)
    login = await authenticator.login_session(user)
    creds = [Credential("session_cookie", login.session_id)]
    principal = await authenticator.authenticate(creds)
    assert ("session", user.id, login.sid) == (principal.method, principal.user_id, principal.sid)
    assert authenticator.check_csrf(principal, login.csrf_token)
    assert not authenticator.check_csrf(principal, "forged")
    await authenticator.logout(principal)
    with pytest.raises(SessionNotFound):
        await authenticator.authenticate(creds)


async def test_token_column_end_to_end(authenticator: Authenticator, clock: FakeClock) -> None:
    """Token login -> Bearer works -> refresh rotates -> logout revokes at once."""
    user = await _user(authenticator)
    pair = await authenticator.login_tokens(user, scope="read")
    principal = await authenticator.authenticate(bearer(pair.access_token))
    assert ("jwt", user.id, pair.sid) == (principal.method, principal.user_id, principal.sid)
    assert frozenset({"read"}) == principal.scopes
    clock.advance(30)
    newer = await authenticator.refresh(pair.refresh_token)
    assert newer.sid == pair.sid
    assert newer.refresh_token != pair.refresh_token
    await authenticator.logout(await authenticator.authenticate(bearer(newer.access_token)))
    for token in (pair.access_token, newer.access_token):
        with pytest.raises(TokenRevoked):
            await authenticator.authenticate(bearer(token))
    with pytest.raises(TokenRevoked):
        await authenticator.refresh(newer.refresh_token)


async def test_access_token_expires(authenticator: Authenticator, clock: FakeClock) -> None:
    """An access token past exp + leeway is token_expired."""
    pair = await authenticator.login_tokens(await _user(authenticator))
    clock.advance(600 + 5)
    with pytest.raises(TokenExpired):
        await authenticator.authenticate(bearer(pair.access_token))


async def test_refresh_reuse_revokes_family_access_tokens(
    authenticator: Authenticator, clock: FakeClock
) -> None:
    """A spent refresh token presented after the grace window kills the login's JWTs."""
    pair = await authenticator.login_tokens(await _user(authenticator))
    newer = await authenticator.refresh(pair.refresh_token)
    clock.advance(60)
    with pytest.raises(RefreshTokenReused):
        await authenticator.refresh(pair.refresh_token)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate(bearer(newer.access_token))


async def test_exchange_token_dies_with_session(authenticator: Authenticator) -> None:
    """A session-bound JWT carries the session's sid and is refused after logout."""
    user = await _user(authenticator)
    login = await authenticator.login_session(user)
    session = await authenticator.authenticate([Credential("session_cookie", login.session_id)])
    issued = await authenticator.exchange(session, scope="read")
    jwt_principal = await authenticator.authenticate(bearer(issued.token))
    assert login.sid == jwt_principal.sid
    await authenticator.logout(session)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate(bearer(issued.token))


async def test_exchange_refuses_unallowed_scope(authenticator: Authenticator) -> None:
    """A session cannot mint a token with a scope outside the allow-list."""
    login = await authenticator.login_session(await _user(authenticator))
    session = await authenticator.authenticate([Credential("session_cookie", login.session_id)])
    with pytest.raises(ValidationError):
        await authenticator.exchange(session, scope="admin")


async def test_logout_all_and_list(authenticator: Authenticator, clock: FakeClock) -> None:
    """list_logins shows sessions and families; logout_all ends every one of them."""
    user = await _user(authenticator)
    login = await authenticator.login_session(user)
    clock.advance(1)
    pair = await authenticator.login_tokens(user)
    logins = await authenticator.list_logins(user.id)
    assert [(login.sid, "session"), (pair.sid, "jwt")] == [(x.id, x.method) for x in logins]
    await authenticator.logout_all(user.id)
    assert [] == await authenticator.list_logins(user.id)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate(bearer(pair.access_token))
    with pytest.raises(SessionNotFound):
        await authenticator.authenticate([Credential("session_cookie", login.session_id)])
    again = await authenticator.login_tokens(user)
    assert user.id == (await authenticator.authenticate(bearer(again.access_token))).user_id


@pytest.mark.parametrize("end", ["logout_all", "set_disabled"])
@pytest.mark.parametrize(("access_ttl", "absolute_ttl"), [(600, 43200), (90000, 3600)])
async def test_logout_all_keeps_its_watermark_as_long_as_any_login_it_ends(
    memory_store: MemoryStore,
    keyring: KeyRing,
    clock: FakeClock,
    access_ttl: int,
    absolute_ttl: int,
    end: str,
) -> None:
    """The "revoked before" watermark ends access tokens, and sessions where logout_all
    cannot delete them (it reaches them through the feed): it is kept as long as either
    can live, the session's absolute timeout or the token's lifetime, plus the leeway.
    Disabling keeps it at least DISABLED_WATERMARK_TTL: ``gatepass users disable`` does
    not know the server's lifetimes."""
    auth = Authenticator(
        store=memory_store,
        keyring=keyring,
        tokens=TokenSettings(
            issuer="https://auth.test", audience="gatepass", access_ttl=access_ttl, leeway=30
        ),
        sessions=SessionSettings(idle_ttl=1800, absolute_ttl=absolute_ttl, touch_interval=60),
        passwords=FAST_PASSWORDS,
        clock=clock,
    )
    user = await _user(auth)
    if end == "logout_all":
        await auth.logout_all(user.id)
        kept: float = max(access_ttl, absolute_ttl)
    else:
        await auth.set_disabled(user.id, True)
        kept = DISABLED_WATERMARK_TTL
    marks = [e for e in await memory_store.revocations_since(0) if e.kind == "user"]
    assert [clock.now + kept + 30] == [e.expires_at for e in marks]


async def test_revoke_login_only_for_owner(authenticator: Authenticator) -> None:
    """Revoking another user's login id is not_found and changes nothing."""
    alice = await _user(authenticator)
    bob = await _user(authenticator, "bob@example.com")
    pair = await authenticator.login_tokens(alice)
    with pytest.raises(NotFound):
        await authenticator.revoke_login(bob.id, pair.sid)
    assert alice.id == (await authenticator.authenticate(bearer(pair.access_token))).user_id
    await authenticator.revoke_login(alice.id, pair.sid)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate(bearer(pair.access_token))


async def test_bearer_wins_over_cookies(authenticator: Authenticator) -> None:
    """A bad Bearer token is refused even when a valid session cookie is present."""
    login = await authenticator.login_session(await _user(authenticator))
    creds = [Credential("bearer", "garbage"), Credential("session_cookie", login.session_id)]
    with pytest.raises(TokenError) as info:
        await authenticator.authenticate(creds)
    assert "invalid_token" == info.value.code


async def test_no_credential(authenticator: Authenticator) -> None:
    """No credential at all is MissingCredential."""
    with pytest.raises(MissingCredential):
        await authenticator.authenticate([])


async def test_cookie_refresh_needs_csrf_before_spending(authenticator: Authenticator) -> None:
    """A cookie refresh without the login's CSRF token fails and spends nothing."""
    pair = await authenticator.login_tokens(await _user(authenticator), transport="cookie")
    assert pair.csrf_token is not None
    with pytest.raises(CSRFError):
        await authenticator.refresh(pair.refresh_token, from_cookie=True, csrf_token="nope")
    newer = await authenticator.refresh(
        pair.refresh_token, from_cookie=True, csrf_token=pair.csrf_token
    )
    assert pair.csrf_token == newer.csrf_token
    principal = await authenticator.authenticate([Credential("access_cookie", newer.access_token)])
    assert authenticator.check_csrf(principal, pair.csrf_token)
    other_first = "y" if pair.csrf_token[0] == "x" else "x"  # the token may start with "x"
    assert not authenticator.check_csrf(principal, other_first + pair.csrf_token[1:])


async def test_audit_trail(authenticator: Authenticator) -> None:
    """Logins, failures and logouts are recorded as audit events."""
    user = await _user(authenticator)
    with pytest.raises(InvalidCredentials):
        await authenticator.verify_password(user.email, "wrong password!")
    login = await authenticator.login_session(user)
    session = await authenticator.authenticate([Credential("session_cookie", login.session_id)])
    await authenticator.logout(session)
    actions = [(e.action, e.outcome) for e in await authenticator.store.list_audit(limit=10)]
    assert [("logout", "ok"), ("login.session", "ok"), ("login", "failed"), ("register", "ok")] == (
        actions
    )


async def test_login_upgrades_a_hash_made_with_older_parameters(
    authenticator: Authenticator,
) -> None:
    """A password hash with weaker argon2 parameters is re-hashed at the next login."""
    from gatepass.config import PasswordSettings
    from gatepass.passwords import Argon2Hasher

    strong = authenticator.hasher
    authenticator.hasher = Argon2Hasher(PasswordSettings(time_cost=1, memory_cost=512))
    user = await _user(authenticator)
    assert "m=512,t=1" in user.password_hash
    authenticator.hasher = strong
    await authenticator.verify_password(user.email, PASSWORD)
    stored = await authenticator.store.get_user(user.id)
    assert stored is not None
    assert "m=1024,t=1" in stored.password_hash
    assert user.email == (await authenticator.verify_password(user.email, PASSWORD)).email
