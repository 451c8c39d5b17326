"""The Authorization: Bearer transport and WWW-Authenticate challenges (RFC 6750)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.errors import ConfigurationError, GatepassError, MalformedToken, TokenTooLarge
from gatepass.transports import bearer
from gatepass.transports.bearer import (
    _EXACT,
    _EXACT_SIZE,
    challenge,
    exact_bearer_token,
    parse_authorization,
)

TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),  # RFC 6750 section 2.1
        ("bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
        ("BEARER mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
        ("Bearer    mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
        ("  Bearer abc  ", "abc"),
        ("\tBearer abc\t", "abc"),
        ("Bearer abc==", "abc=="),
        ("Bearer a~b+c/d-e.f_g", "a~b+c/d-e.f_g"),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        ),
    ],
)
def test_bearer_token_is_extracted(header: str, token: str) -> None:
    """A Bearer header yields its token68; the scheme is case-insensitive, 1+ spaces allowed."""
    assert token == parse_authorization(header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Digest username=x",
        "Bearerabc",
        "Token abc",
        "MAC id=1",
    ],
)
def test_no_bearer_credential(header: str | None) -> None:
    """An absent header, an empty one or another scheme means no bearer credential."""
    assert parse_authorization(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Bearer\tabc",
        "Bearer \tabc",
        "Bearer abc def",
        "Bearer abc, Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Bearer abc,def",
        "Bearer ,abc",
        "Bearer abc=def",
        "Bearer ==",
        "Bearer =abc",
        'Bearer "abc"',
        "Bearer realm=x",
        "Bearer t\u00f6k\u00e9n",
        "Bearer abc\x00",
        "Bearer abc\r\nX-Evil: 1",
        "Bearer abc;def",
        "Bearer abc?access_token=def",
    ],
)
def test_malformed_bearer_header_raises(header: str) -> None:
    """A Bearer header whose rest is not exactly one token68 raises MalformedToken."""
    with pytest.raises(MalformedToken):
        parse_authorization(header)


def test_oversized_header_is_refused_before_parsing() -> None:
    """A header over max_bytes raises TokenTooLarge, whatever its scheme or shape."""
    with pytest.raises(TokenTooLarge):
        parse_authorization("Bearer " + "a" * 8186)
    with pytest.raises(TokenTooLarge):
        parse_authorization("Basic " + "a" * 9000)
    with pytest.raises(TokenTooLarge):
        parse_authorization("garbage, " * 2000)


def test_size_limit_is_inclusive_and_counts_bytes() -> None:
    """Exactly max_bytes passes; multi-byte characters count as their UTF-8 length."""
    assert "a" * 8185 == parse_authorization("Bearer " + "a" * 8185)
    assert "abc" == parse_authorization("Bearer abc", max_bytes=10)
    with pytest.raises(TokenTooLarge):
        parse_authorization("Bearer abcd", max_bytes=10)
    with pytest.raises(TokenTooLarge):
        parse_authorization("Bearer " + "\u00e9" * 4093)  # 4100 chars, 8193 bytes


def test_token_too_large_is_a_token_error() -> None:
    """Both failures are authentication errors answered with invalid_token."""
    assert "invalid_token" == TokenTooLarge.code == MalformedToken.code


def test_no_query_string_or_body_input_exists() -> None:
    """The bearer transport only ever reads the header value: no URL, query or body input."""
    assert ["value", "max_bytes"] == list(inspect.signature(parse_authorization).parameters)
    assert not any("query" in name.lower() for name in dir(bearer))


@settings(max_examples=400)
@given(st.text(max_size=200))
def test_fuzz_parse_authorization_only_raises_gatepass_errors(text: str) -> None:
    """On arbitrary text the parser returns a token68, None, or raises a GatepassError."""
    for header in (text, "Bearer " + text, "bearer  " + text):
        try:
            token = parse_authorization(header)
        except GatepassError:
            continue
        assert token is None or (TOKEN68.fullmatch(token) and token in header)


# -- challenges --------------------------------------------------------------------------


def test_challenge_without_credential_is_plain_bearer() -> None:
    """With no credential the challenge is just 'Bearer' (API.md)."""
    assert "Bearer" == challenge()


def test_challenge_with_realm() -> None:
    """A realm is a quoted auth-param."""
    assert 'Bearer realm="example"' == challenge(realm="example")


def test_challenge_invalid_token() -> None:
    """A bad token gives error="invalid_token" (API.md, RFC 6750 section 3.1)."""
    assert 'Bearer error="invalid_token"' == challenge("invalid_token")


def test_challenge_invalid_token_rfc_example() -> None:
    """RFC 6750 section 3's example is reproduced exactly, parameters in its order."""
    expected = (
        'Bearer realm="example", error="invalid_token", '
        'error_description="The access token expired"'
    )
    assert expected == challenge(
        "invalid_token", realm="example", description="The access token expired"
    )


def test_challenge_insufficient_scope() -> None:
    """Insufficient scope names the scope required."""
    assert 'Bearer error="insufficient_scope", scope="read write"' == challenge(
        "insufficient_scope", scope="read write"
    )


def test_challenge_realm_is_quote_escaped() -> None:
    """Quotes and backslashes in a realm are escaped as quoted-pairs."""
    assert 'Bearer realm="a \\"b\\" \\\\c"' == challenge(realm='a "b" \\c')


@pytest.mark.parametrize(
    "kwargs",
    [
        {"realm": "x\r\nSet-Cookie: a=b"},
        {"realm": "x\x00"},
        {"realm": "caf\u00e9"},
        {"description": 'say "hi"'},
        {"description": "back\\slash"},
        {"description": "line\nbreak"},
        {"scope": "a  b"},
        {"scope": ""},
        {"scope": 'a"b'},
        {"scope": " a"},
    ],
)
def test_challenge_refuses_values_that_could_break_the_header(kwargs: dict[str, str]) -> None:
    """Values outside RFC 6750's character sets raise ConfigurationError (no header injection)."""
    with pytest.raises(ConfigurationError):
        challenge("invalid_token", **kwargs)


def test_challenge_refuses_unknown_error_code() -> None:
    """Only RFC 6750's three error codes are allowed."""
    bogus: Any = 'invalid_token", x="y'
    with pytest.raises(ConfigurationError):
        challenge(bogus)


# -- the fast path's exact form -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "bearer abc", "Bearer  abc", "Bearer abc ", "Bearer a,b", "Bearer ", "Bearer =",
        "Basic abc", "Bearer ab\u00e9", "Bearer a=b",
    ],
)  # fmt: skip
def test_exact_bearer_token_leaves_other_forms_to_the_parser(value: str) -> None:
    """Anything but ``Bearer <token68>`` exactly is None (the full parser decides)."""
    assert exact_bearer_token(value.encode()) is None


def test_exact_bearer_token_of_the_usual_form() -> None:
    assert "abc.def-_~+/==" == exact_bearer_token(b"Bearer abc.def-_~+/==")
    assert "abc" == parse_authorization("bearer abc")  # valid, but not for the fast path


@settings(max_examples=400)
@given(st.text(max_size=200), st.sampled_from(["Bearer ", "bearer ", "Bearer  ", ""]))
def test_fuzz_exact_bearer_token_agrees_with_the_parser(text: str, prefix: str) -> None:
    """Whenever the fast form returns a token, the full parser returns the same token.

    As the middleware calls them: the raw header bytes, and their latin-1 decoding.
    """
    raw = (prefix + text).encode("utf-8", "surrogatepass")
    token = exact_bearer_token(raw)
    if token is not None:
        assert token == parse_authorization(raw.decode("latin-1"))


def test_exact_bearer_token_memo_compares_the_whole_header() -> None:
    """A repeat (a new bytes object, as ASGI gives) returns the same string; a header that
    only ends like a remembered one gets its own token; malformed ones are not kept."""
    _EXACT.clear()
    first = exact_bearer_token(b"Bearer aaaa.bbbb.0123456789abcdef")
    assert first is exact_bearer_token(bytes(bytearray(b"Bearer aaaa.bbbb.0123456789abcdef")))
    assert "cccc.dddd.0123456789abcdef" == exact_bearer_token(b"Bearer cccc.dddd.0123456789abcdef")
    assert "aaaa.bbbb.0123456789abcdef" == exact_bearer_token(b"Bearer aaaa.bbbb.0123456789abcdef")
    assert exact_bearer_token(b"Bearer a a0123456789abcdef") is None
    assert exact_bearer_token(b"Basic aaaa.bbbb.0123456789abcdef") is None
    # Every header above ends with the same 16 bytes: a kept malformed one would have
    # replaced the remembered header.
    assert {
        b"0123456789abcdef": (b"Bearer aaaa.bbbb.0123456789abcdef", "aaaa.bbbb.0123456789abcdef")
    } == _EXACT


def test_exact_bearer_token_memo_is_bounded() -> None:
    """At most 4,096 headers are kept; when full the memo is emptied, then refilled."""
    _EXACT.clear()
    for i in range(_EXACT_SIZE):
        assert f"token-{i:06d}" == exact_bearer_token(f"Bearer token-{i:06d}".encode())
    assert _EXACT_SIZE == len(_EXACT)
    assert "one-more" == exact_bearer_token(b"Bearer one-more")
    assert 1 == len(_EXACT)
    assert "token-000001" == exact_bearer_token(b"Bearer token-000001")
