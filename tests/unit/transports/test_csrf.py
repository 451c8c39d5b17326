"""CSRF tokens bound to a per-login secret, and the origin / fetch-metadata policy."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.config import CookieSettings
from gatepass.errors import ConfigurationError, CSRFError
from gatepass.transports.cookie import set_cookie
from gatepass.transports.csrf import (
    CSRFPolicy,
    make_csrf_token,
    new_csrf_secret,
    origin_of,
    verify_csrf_token,
)

SECRET = new_csrf_secret()
APP = "https://app.example"
POLICY = CSRFPolicy([APP])


def _flip(text: str, index: int) -> str:
    """Change one base64url character."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def _reason(method: str, headers: dict[str, str], token: str | None) -> str | None:
    """The CSRFError reason for a request, or None when it passes."""
    try:
        POLICY.check(method, headers, secret=SECRET, token=token)
    except CSRFError as exc:
        return exc.reason
    return None


# -- tokens ------------------------------------------------------------------------------


def test_secret_is_256_bits_hex_and_unique() -> None:
    """A CSRF secret is 64 hex chars from the CSPRNG, different every time."""
    secrets = {new_csrf_secret() for _ in range(100)}
    assert 100 == len(secrets)
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in secrets)


def test_token_round_trip() -> None:
    """A token made for a secret verifies against it."""
    assert verify_csrf_token(SECRET, make_csrf_token(SECRET)) is True


def test_tokens_are_fresh_each_time_and_all_verify() -> None:
    """Each call masks the token with new randomness; every one verifies."""
    tokens = {make_csrf_token(SECRET) for _ in range(50)}
    assert 50 == len(tokens)
    assert all(verify_csrf_token(SECRET, t) for t in tokens)


def test_token_shape_is_cookie_and_header_safe() -> None:
    """A token is base64url '.' base64url, usable as a cookie value and a header."""
    token = make_csrf_token(SECRET)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", token)
    set_cookie("gp_csrf", token, settings=CookieSettings(), same_site="lax", http_only=False)


def test_token_for_another_secret_fails() -> None:
    """A token of another login (another secret) does not verify (S-06d, S-06e)."""
    assert verify_csrf_token(new_csrf_secret(), make_csrf_token(SECRET)) is False


@pytest.mark.parametrize("index", [0, 5, 21, 23, 40, 64])
def test_tampered_token_fails(index: int) -> None:
    """Changing any character of the nonce or the MAC makes the token fail."""
    token = make_csrf_token(SECRET)
    assert verify_csrf_token(SECRET, _flip(token, index)) is False


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        ".",
        "abc",
        "abc.def",
        "a.b.c",
        "x" * 10_000,
        "\u00e9\u00e9.\u00e9\u00e9",
        "AAAAAAAAAAAAAAAAAAAAAA.",
        ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_malformed_tokens_fail(token: str | None) -> None:
    """Missing, empty, malformed, oversized or non-ASCII tokens are False, never an error."""
    assert verify_csrf_token(SECRET, token) is False


def test_non_canonical_encoding_fails() -> None:
    """A token re-encoded with padding or standard base64 characters fails."""
    token = make_csrf_token(SECRET)
    nonce, mac = token.split(".")
    assert verify_csrf_token(SECRET, f"{nonce}==.{mac}") is False
    assert verify_csrf_token(SECRET, f"{nonce}.{mac}=") is False


def test_empty_secret_never_verifies_and_cannot_mint() -> None:
    """An empty secret cannot mint a token, and nothing verifies against it."""
    with pytest.raises(ConfigurationError):
        make_csrf_token("")
    assert verify_csrf_token("", make_csrf_token(SECRET)) is False


@settings(max_examples=400)
@given(st.text(max_size=120), st.text(max_size=80))
def test_fuzz_verify_csrf_token_never_raises(secret: str, token: str) -> None:
    """On arbitrary text verify_csrf_token returns False: it never raises and cannot be forged."""
    assert verify_csrf_token(secret, token) is False


# -- origins ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://app.example", "https://app.example"),
        ("https://app.example/", "https://app.example"),
        ("HTTPS://App.Example:443/path?q=1#f", "https://app.example"),
        ("http://app.example:80/x", "http://app.example"),
        ("https://app.example:8443", "https://app.example:8443"),
        ("http://127.0.0.1:8000/login", "http://127.0.0.1:8000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("http://localhost:8000", "http://localhost:8000"),
    ],
)
def test_origin_of_normalises(url: str, origin: str) -> None:
    """origin_of keeps scheme, host and a non-default port, lower-cased."""
    assert origin == origin_of(url)


@pytest.mark.parametrize(
    "url",
    [
        "null",
        "",
        "app.example",
        "//app.example",
        "ftp://app.example",
        "javascript:alert(1)",
        "https://",
        "https://app.example:99999",
        "https://app.example:abc",
        "https://user@app.example",
        "https://app.example@evil.example",
        "https://app.example\\@evil.example",
        " https://app.example",
        "https://app.example /",
        "https://app.ex\u00e4mple",
        "https://app.example\r\n",
        "https://-app.example",
        "https://app_ex ample",
    ],
)
def test_origin_of_refuses_non_origins(url: str) -> None:
    """origin_of returns None for anything that is not a plain http(s) URL."""
    assert origin_of(url) is None


# -- the request policy ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE", "get"])
def test_safe_methods_pass_without_token_or_origin(method: str) -> None:
    """Safe methods are never checked, even cross-site and without a token."""
    assert (
        _reason(method, {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}, None)
        is None
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "post", "PROPFIND"])
def test_unsafe_methods_need_a_token(method: str) -> None:
    """Every other method needs a valid token (reason 'token' without one)."""
    assert "token" == _reason(method, {"origin": APP}, None)
    assert _reason(method, {"origin": APP}, make_csrf_token(SECRET)) is None


def test_same_origin_request_with_token_passes() -> None:
    """A same-origin unsafe request with a valid token passes."""
    headers = {"origin": APP, "sec-fetch-site": "same-origin"}
    assert _reason("POST", headers, make_csrf_token(SECRET)) is None


def test_token_of_another_login_is_refused() -> None:
    """A valid token minted for another login's secret fails with reason 'token'."""
    assert "token" == _reason("POST", {"origin": APP}, make_csrf_token(new_csrf_secret()))


def test_no_secret_means_failure() -> None:
    """Without a login secret an unsafe request fails, whatever token it carries."""
    with pytest.raises(CSRFError) as info:
        POLICY.check("POST", {"origin": APP}, secret=None, token=make_csrf_token(SECRET))
    assert "token" == info.value.reason
    assert "csrf_failed" == info.value.code


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://app.example.evil.example",
        "https://app.example.attacker.com",
        "https://evilapp.example",
        "https://app.example:8443",
        "http://app.example",
        "null",
        "",
        "https://app.example/path",
        "https://app.example?x",
        "https://user@app.example",
        "https://app.example https://evil.example",
    ],
)
def test_origin_must_exactly_match_the_allow_list(origin: str) -> None:
    """Suffix tricks, other ports, other schemes, null and junk Origins fail with 'origin'."""
    assert "origin" == _reason("POST", {"origin": origin}, make_csrf_token(SECRET))


@pytest.mark.parametrize(
    "origin", ["https://APP.example", "https://app.example:443", " https://app.example"]
)
def test_origin_comparison_normalises_case_and_default_port(origin: str) -> None:
    """Host case and an explicit default port do not matter."""
    assert _reason("POST", {"origin": origin}, make_csrf_token(SECRET)) is None


def test_cross_site_fetch_metadata_fails_first() -> None:
    """Sec-Fetch-Site: cross-site fails with 'fetch-site', even with a good origin and token."""
    headers = {"origin": APP, "sec-fetch-site": "Cross-Site"}
    assert "fetch-site" == _reason("POST", headers, make_csrf_token(SECRET))


def test_same_site_fetch_metadata_falls_back_to_origin() -> None:
    """Sec-Fetch-Site: same-site is decided by the Origin allow-list."""
    token = make_csrf_token(SECRET)
    assert _reason("POST", {"origin": APP, "sec-fetch-site": "same-site"}, token) is None
    sibling = {"origin": "https://blog.example", "sec-fetch-site": "same-site"}
    assert "origin" == _reason("POST", sibling, token)


def test_referer_is_used_when_origin_is_absent() -> None:
    """Without Origin, the Referer's origin must be allowed."""
    token = make_csrf_token(SECRET)
    assert _reason("POST", {"referer": "https://app.example/account?x=1"}, token) is None
    assert "origin" == _reason("POST", {"referer": "https://evil.example/app.example"}, token)
    assert "origin" == _reason("POST", {"referer": "https://app.example.evil.example/"}, token)
    assert "origin" == _reason("POST", {"referer": "not a url"}, token)


def test_origin_wins_over_referer() -> None:
    """When Origin is present the Referer is not consulted."""
    token = make_csrf_token(SECRET)
    headers = {"origin": "https://evil.example", "referer": "https://app.example/"}
    assert "origin" == _reason("POST", headers, token)


def test_neither_header_leaves_the_token_to_decide() -> None:
    """With no Origin and no Referer the token alone decides (non-browser clients)."""
    assert _reason("POST", {}, make_csrf_token(SECRET)) is None
    assert "token" == _reason("POST", {}, "forged")


def test_require_origin_blocks_requests_without_origin_or_referer() -> None:
    """With require_origin=True a request with neither header fails with 'origin'."""
    strict = CSRFPolicy([APP], require_origin=True)
    with pytest.raises(CSRFError) as info:
        strict.check("POST", {}, secret=SECRET, token=make_csrf_token(SECRET))
    assert "origin" == info.value.reason
    strict.check("POST", {"origin": APP}, secret=SECRET, token=make_csrf_token(SECRET))


def test_several_allowed_origins() -> None:
    """Any origin on the list is allowed; they are normalised when configured."""
    policy = CSRFPolicy(["HTTPS://App.Example/", "http://localhost:8000"])
    assert frozenset({"https://app.example", "http://localhost:8000"}) == policy.allowed_origins
    assert policy.origin_allowed("http://localhost:8000")
    assert not policy.origin_allowed("http://localhost:8001")


def test_check_origin_skips_only_the_token_step() -> None:
    """check_origin applies method, fetch-site and origin rules but needs no token."""
    POLICY.check_origin("POST", {"origin": APP})
    POLICY.check_origin("GET", {"origin": "https://evil.example"})
    with pytest.raises(CSRFError) as info:
        POLICY.check_origin("POST", {"origin": "https://evil.example"})
    assert "origin" == info.value.reason
    with pytest.raises(CSRFError) as info:
        POLICY.check_origin("DELETE", {"origin": APP, "sec-fetch-site": "cross-site"})
    assert "fetch-site" == info.value.reason


@pytest.mark.parametrize(
    "origins",
    [[], ["null"], ["https://app.example/path"], ["ftp://app.example"], ["app.example"]],
)
def test_bad_allow_list_is_a_configuration_error(origins: list[str]) -> None:
    """An empty allow-list or an entry that is not an http(s) origin is refused."""
    with pytest.raises(ConfigurationError):
        CSRFPolicy(origins)


@settings(max_examples=300)
@given(
    st.sampled_from(["POST", "GET", "DELETE", "put"]),
    st.dictionaries(
        st.sampled_from(["origin", "referer", "sec-fetch-site"]), st.text(max_size=60), max_size=3
    ),
    st.one_of(st.none(), st.text(max_size=80)),
)
def test_fuzz_policy_only_raises_csrf_errors(
    method: str, headers: dict[str, str], token: str | None
) -> None:
    """On arbitrary headers and tokens the policy passes safe methods or raises CSRFError."""
    try:
        POLICY.check(method, headers, secret=SECRET, token=token)
    except CSRFError:
        assert method.upper() not in {"GET"}
    else:
        assert method.upper() == "GET"
