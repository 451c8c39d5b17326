"""ClaimsValidator: time claims with leeway, exact iss, aud rules, identifiers, scopes."""

from __future__ import annotations

from typing import Any

import pytest

from gatepass.errors import (
    ConfigurationError,
    InvalidClaim,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
)
from gatepass.tokens.claims import ClaimsValidator, ValidatedClaims
from gatepass.tokens.jws import parse_json_object
from tests.conftest import FakeClock

ISSUER = "https://auth.example.com"
AUDIENCE = "api"
LEEWAY = 5


@pytest.fixture
def validator(clock: FakeClock) -> ClaimsValidator:
    return ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY, clock=clock)


@pytest.fixture
def claims(clock: FakeClock) -> dict[str, Any]:
    now = int(clock.now)
    return {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": "jti-1",
        "sid": "sid-1",
        "scope": "read:profile write:profile",
    }


def test_valid_claims_are_returned_typed(
    validator: ClaimsValidator, claims: dict[str, Any]
) -> None:
    """A valid claim set yields ValidatedClaims with every field typed and raw kept."""
    result = validator.validate(claims)
    expected = ValidatedClaims(
        sub="user-1",
        exp=claims["exp"],
        iat=claims["iat"],
        nbf=claims["nbf"],
        jti="jti-1",
        sid="sid-1",
        scopes=frozenset({"read:profile", "write:profile"}),
        aud=(AUDIENCE,),
        iss=ISSUER,
        raw=claims,
    )
    assert expected == result
    assert claims == dict(result.raw)


def test_result_is_immutable_and_detached(
    validator: ClaimsValidator, claims: dict[str, Any]
) -> None:
    """The result cannot be changed, and later changes to the input do not reach it."""
    result = validator.validate(claims)
    with pytest.raises(AttributeError):
        result.sub = "admin"  # type: ignore[misc]
    claims["sub"] = "admin"
    assert "user-1" == result.raw["sub"]
    with pytest.raises(TypeError):
        result.raw["sub"] = "admin"  # type: ignore[index]


def test_optional_claims_may_be_absent(validator: ClaimsValidator, claims: dict[str, Any]) -> None:
    """Without nbf, sid and scope, the result has None, None and no scopes."""
    for name in ("nbf", "sid", "scope"):
        del claims[name]
    result = validator.validate(claims)
    assert (None, None, frozenset()) == (result.nbf, result.sid, result.scopes)


@pytest.mark.parametrize("name", ["exp", "iat", "sub", "jti", "iss", "aud"])
def test_required_claims(validator: ClaimsValidator, claims: dict[str, Any], name: str) -> None:
    """exp, iat, sub, jti, iss and aud are required; a missing one is InvalidClaim(name)."""
    del claims[name]
    with pytest.raises(InvalidClaim) as info:
        validator.validate(claims)
    assert name == info.value.claim


def test_extra_required_claims(clock: FakeClock, claims: dict[str, Any]) -> None:
    """required can add claims (here sid); it cannot drop the always-required ones."""
    strict = ClaimsValidator(
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
        required=frozenset({"exp", "iat", "sub", "jti", "sid"}),
    )
    del claims["sid"]
    with pytest.raises(InvalidClaim) as info:
        strict.validate(claims)
    assert "sid" == info.value.claim
    with pytest.raises(ConfigurationError):
        ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, required=frozenset({"exp"}))


# -- time --------------------------------------------------------------------------------


def test_exp_boundary_with_leeway(
    validator: ClaimsValidator, claims: dict[str, Any], clock: FakeClock
) -> None:
    """exp == now - leeway is expired; exp == now - leeway + 1 is still accepted."""
    now = int(clock.now)
    with pytest.raises(TokenExpired) as info:
        validator.validate({**claims, "exp": now - LEEWAY, "iat": now - 600, "nbf": now - 600})
    assert now - LEEWAY == info.value.expired_at
    assert now - LEEWAY + 1 == validator.validate({**claims, "exp": now - LEEWAY + 1}).exp


def test_token_expires_as_the_clock_moves(
    validator: ClaimsValidator, claims: dict[str, Any], clock: FakeClock
) -> None:
    """A token valid now is expired once the clock passes exp + leeway."""
    assert claims["exp"] == validator.validate(claims).exp
    clock.advance(600 + LEEWAY - 1)
    validator.validate(claims)
    clock.advance(1)
    with pytest.raises(TokenExpired):
        validator.validate(claims)


def test_exact_leeway_zero(clock: FakeClock, claims: dict[str, Any]) -> None:
    """With leeway 0, a token is expired at exp itself ("on or after", RFC 7519)."""
    strict = ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, leeway=0, clock=clock)
    now = int(clock.now)
    with pytest.raises(TokenExpired):
        strict.validate({**claims, "exp": now, "iat": now - 1, "nbf": now - 1})
    assert now + 1 == strict.validate({**claims, "exp": now + 1}).exp


def test_nbf_boundary(validator: ClaimsValidator, claims: dict[str, Any], clock: FakeClock) -> None:
    """nbf up to now + leeway is accepted; nbf = now + leeway + 1 is TokenNotYetValid."""
    now = int(clock.now)
    assert now + LEEWAY == validator.validate({**claims, "nbf": now + LEEWAY}).nbf
    with pytest.raises(TokenNotYetValid) as info:
        validator.validate({**claims, "nbf": now + LEEWAY + 1})
    assert "nbf" == info.value.claim


def test_iat_in_the_future(
    validator: ClaimsValidator, claims: dict[str, Any], clock: FakeClock
) -> None:
    """iat beyond now + leeway is TokenNotYetValid; within the leeway it is accepted."""
    now = int(clock.now)
    assert now + LEEWAY == validator.validate({**claims, "iat": now + LEEWAY}).iat
    with pytest.raises(TokenNotYetValid) as info:
        validator.validate({**claims, "iat": now + 3600})
    assert "iat" == info.value.claim


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value", [True, False, 1.5, 2000000000.0, "2000000000", None, [2000000000], {"t": 1}, -1]
)
def test_numeric_dates_must_be_non_negative_integers(
    validator: ClaimsValidator, claims: dict[str, Any], name: str, value: object
) -> None:
    """bool, float, string, null, list, object and negative values are InvalidClaim."""
    with pytest.raises(InvalidClaim) as info:
        validator.validate({**claims, name: value})
    assert name == info.value.claim


@pytest.mark.parametrize(
    "payload", [b'{"exp":NaN}', b'{"exp":Infinity}', b'{"exp":-Infinity}', b'{"exp":1e999}']
)
def test_non_finite_exp_never_reaches_the_validator(payload: bytes) -> None:
    """NaN, Infinity and overflowing numbers are refused at parsing (MalformedToken)."""
    with pytest.raises(MalformedToken):
        parse_json_object(payload)


def test_exp_as_huge_integer(validator: ClaimsValidator, claims: dict[str, Any]) -> None:
    """A 5000-digit exp is refused by the parser; a large but parseable one is just far away."""
    with pytest.raises(MalformedToken):
        parse_json_object(b'{"exp":' + b"9" * 5000 + b"}")
    assert 10**19 == validator.validate({**claims, "exp": 10**19}).exp


# -- issuer and audience ---------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    ["https://auth.example", "https://auth.example.com/", "HTTPS://auth.example.com", "",
     " https://auth.example.com", "https", [ISSUER], None, 1],
)  # fmt: skip
def test_iss_must_match_exactly(
    validator: ClaimsValidator, claims: dict[str, Any], iss: object
) -> None:
    """Prefixes, suffixes, case changes, lists and non-strings are refused (CVE-2024-53861)."""
    with pytest.raises(InvalidClaim) as info:
        validator.validate({**claims, "iss": iss})
    assert "iss" == info.value.claim


def test_partial_issuer_match_is_refused(clock: FakeClock, claims: dict[str, Any]) -> None:
    """A validator expecting "urn:expected" refuses iss "urn:" (no substring match)."""
    validator = ClaimsValidator(issuer="urn:expected", audience=AUDIENCE, clock=clock)
    with pytest.raises(InvalidClaim):
        validator.validate({**claims, "iss": "urn:"})
    assert "urn:expected" == validator.validate({**claims, "iss": "urn:expected"}).iss


@pytest.mark.parametrize(
    "aud",
    ["", [], ["attacker"], "api ", "API", "ap", [["api"]], 123, None, ["api", 1], {"api": 1}, True],
)
def test_aud_rules(validator: ClaimsValidator, claims: dict[str, Any], aud: object) -> None:
    """aud must be our exact audience or a non-empty list of strings holding it."""
    with pytest.raises(InvalidClaim) as info:
        validator.validate({**claims, "aud": aud})
    assert "aud" == info.value.claim


def test_multiple_audiences_accepted_when_one_matches(
    validator: ClaimsValidator, claims: dict[str, Any]
) -> None:
    """Per RFC 7519 4.1.3, ["attacker", "api"] is accepted: one member is ours."""
    assert ("attacker", AUDIENCE) == validator.validate(
        {**claims, "aud": ["attacker", AUDIENCE]}
    ).aud


# -- identifiers and scope ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["sub", "jti", "sid"])
@pytest.mark.parametrize("value", ["", "x" * 257, 1, None, ["a"], True])
def test_identifiers_are_short_non_empty_strings(
    validator: ClaimsValidator, claims: dict[str, Any], name: str, value: object
) -> None:
    """sub, jti and sid must be strings of 1 to 256 characters."""
    with pytest.raises(InvalidClaim) as info:
        validator.validate({**claims, name: value})
    assert name == info.value.claim


def test_identifier_length_limit_is_inclusive(
    validator: ClaimsValidator, claims: dict[str, Any]
) -> None:
    """256-character sub, jti and sid are accepted."""
    result = validator.validate({**claims, "sub": "s" * 256, "jti": "j" * 256, "sid": "i" * 256})
    assert (256, 256, 256) == (len(result.sub), len(result.jti), len(result.sid or ""))


@pytest.mark.parametrize(
    ("scope", "expected"),
    [("", frozenset()), ("read", {"read"}), ("a b c", {"a", "b", "c"}), ("a a", {"a"})],
)
def test_scope_is_split_on_spaces(
    validator: ClaimsValidator, claims: dict[str, Any], scope: str, expected: set[str]
) -> None:
    """scope is a space-separated list; the empty string means no scopes."""
    assert frozenset(expected) == validator.validate({**claims, "scope": scope}).scopes


@pytest.mark.parametrize(
    "scope", ["a  b", " a", "a ", "a\tb", "a\nb", 'a"b', "a\\b", "é", None, ["a"], 1]
)
def test_malformed_scope_is_refused(
    validator: ClaimsValidator, claims: dict[str, Any], scope: object
) -> None:
    """Scopes must be RFC 6749 scope tokens separated by single spaces, in a string."""
    with pytest.raises(InvalidClaim) as info:
        validator.validate({**claims, "scope": scope})
    assert "scope" == info.value.claim


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ""},
        {"audience": ""},
        {"leeway": -1},
        {"leeway": 301},
        {"leeway": 1.5},
        {"leeway": True},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any]) -> None:
    """Empty issuer or audience and a leeway outside 0..300 are ConfigurationError."""
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **kwargs}
    with pytest.raises(ConfigurationError):
        ClaimsValidator(**options)
