"""Access tokens: RFC 9068 typ handling and the registered claims they carry."""

from __future__ import annotations

import pytest

from gatepass.config import TokenSettings
from gatepass.errors import InvalidClaim
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.access import AccessTokens
from gatepass.tokens.jws import sign_compact
from tests.conftest import FakeClock


@pytest.fixture
def tokens(keyring: KeyRing, clock: FakeClock) -> AccessTokens:
    return AccessTokens(keyring, TokenSettings(), clock=clock, cache_size=0)


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt"])
def test_both_rfc9068_typ_forms_verify(tokens: AccessTokens, typ: str) -> None:
    """RFC 9068 section 4: "at+jwt" and "application/at+jwt" are both access tokens."""
    claims = dict(tokens.issue("u1", "s1").claims)
    token = sign_compact(claims, tokens.keyring.active, typ=typ)
    assert "u1" == tokens.verify(token).sub


@pytest.mark.parametrize("typ", [None, "JWT", "at+JWT", "application/jwt", "refresh+jwt"])
def test_other_typs_are_refused(tokens: AccessTokens, typ: str | None) -> None:
    """Any other typ (or none) is not an access token (RFC 8725 explicit typing)."""
    claims = dict(tokens.issue("u1", "s1").claims)
    token = sign_compact(claims, tokens.keyring.active, typ=typ)
    with pytest.raises(InvalidClaim) as info:
        tokens.verify(token)
    assert "typ" == info.value.claim


def test_issued_claims(tokens: AccessTokens, clock: FakeClock) -> None:
    """An issued token carries iss, sub, aud, exp, iat, nbf, jti, sid and scope."""
    issued = tokens.issue("u1", "s1", scope="read")
    assert {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "scope"} == set(issued.claims)
    assert (int(clock.now) + 600, "s1", "read") == (
        issued.claims["exp"],
        issued.claims["sid"],
        issued.claims["scope"],
    )
    assert issued.expires_at == tokens.issue("u1", "s1", not_after=clock.now + 600).expires_at
    assert int(clock.now) + 30 == tokens.issue("u1", "s1", not_after=clock.now + 30).expires_at


def test_registered_claims_cannot_be_overridden(tokens: AccessTokens) -> None:
    """extra= may add private claims but never replace a registered one."""
    with pytest.raises(InvalidClaim):
        tokens.issue("u1", "s1", extra={"sub": "admin"})
