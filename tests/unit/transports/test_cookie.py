"""Cookie parsing and Set-Cookie building, as API.md's cookie table says."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.config import CookieSettings
from gatepass.errors import ConfigurationError
from gatepass.transports.base import Credential
from gatepass.transports.cookie import (
    _MEMO_MAX_CHARS,
    _MEMO_SIZE,
    MAX_COOKIE_BYTES,
    CookieTransport,
    clear_cookie,
    parse_cookie_header,
    set_cookie,
)

SECURE = CookieSettings()
DEV = CookieSettings(secure=False)
EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


# -- Set-Cookie --------------------------------------------------------------------------


def test_session_login_cookies_secure_mode() -> None:
    """Session login sets __Host-gp_session (HttpOnly, Lax) and __Host-gp_csrf (not HttpOnly)."""
    assert [
        "__Host-gp_session=sid123; Path=/; Secure; HttpOnly; SameSite=Lax",
        "__Host-gp_csrf=csrf.tok; Path=/; Secure; SameSite=Lax",
    ] == CookieTransport(SECURE).session_cookies("sid123", "csrf.tok", max_age=None)


def test_token_login_cookies_secure_mode() -> None:
    """Token-cookie login sets access (Lax) and refresh (Strict), HttpOnly, and the CSRF cookie."""
    assert [
        "__Host-gp_access=a.b.c; Path=/; Max-Age=600; Secure; HttpOnly; SameSite=Lax",
        "__Host-gp_refresh=fam.sec; Path=/; Max-Age=2592000; Secure; HttpOnly; SameSite=Strict",
        "__Host-gp_csrf=csrf.tok; Path=/; Max-Age=2592000; Secure; SameSite=Lax",
    ] == CookieTransport(SECURE).token_cookies(
        "a.b.c", "fam.sec", "csrf.tok", access_max_age=600, refresh_max_age=2592000
    )


def test_dev_mode_drops_secure_and_host_prefix() -> None:
    """In --dev mode names lose __Host- and cookies lose Secure; everything else stays."""
    transport = CookieTransport(DEV)
    assert [
        "gp_session=sid123; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax",
        "gp_csrf=csrf.tok; Path=/; Max-Age=43200; SameSite=Lax",
    ] == transport.session_cookies("sid123", "csrf.tok", max_age=43200)
    assert [
        "gp_access=a; Path=/; Max-Age=1; HttpOnly; SameSite=Lax",
        "gp_refresh=r; Path=/; Max-Age=2; HttpOnly; SameSite=Strict",
        "gp_csrf=c; Path=/; Max-Age=2; SameSite=Lax",
    ] == transport.token_cookies("a", "r", "c", access_max_age=1, refresh_max_age=2)


def test_no_cookie_ever_has_a_domain_attribute() -> None:
    """No Set-Cookie value gatepass builds names a Domain, and every Path is /."""
    for s in (SECURE, DEV):
        t = CookieTransport(s)
        values = [
            *t.session_cookies("s", "c", max_age=10),
            *t.token_cookies("a", "r", "c", access_max_age=1, refresh_max_age=2),
            *t.clear_session_cookies(),
            *t.clear_token_cookies(),
        ]
        for value in values:
            attrs = [a.strip().split("=")[0].lower() for a in value.split(";")[1:]]
            assert "domain" not in attrs
            assert "Path=/" in value.split("; ")


def test_clear_cookies_match_the_set_attributes() -> None:
    """Clearing sends the same names and attributes, no value, Max-Age=0 and a past Expires."""
    t = CookieTransport(SECURE)
    assert [
        f"__Host-gp_session=; Path=/; {EXPIRED}; Secure; HttpOnly; SameSite=Lax",
        f"__Host-gp_csrf=; Path=/; {EXPIRED}; Secure; SameSite=Lax",
    ] == t.clear_session_cookies()
    assert [
        f"__Host-gp_access=; Path=/; {EXPIRED}; Secure; HttpOnly; SameSite=Lax",
        f"__Host-gp_refresh=; Path=/; {EXPIRED}; Secure; HttpOnly; SameSite=Strict",
        f"__Host-gp_csrf=; Path=/; {EXPIRED}; Secure; SameSite=Lax",
    ] == t.clear_token_cookies()


def test_clear_cookie_dev_mode() -> None:
    """clear_cookie in --dev mode uses the bare name and no Secure."""
    assert f"gp_session=; Path=/; {EXPIRED}; HttpOnly; SameSite=Lax" == clear_cookie(
        "gp_session", settings=DEV
    )


def test_set_cookie_same_site_none_requires_secure() -> None:
    """SameSite=None is allowed only on Secure cookies."""
    assert "__Host-x=v; Path=/; Secure; HttpOnly; SameSite=None" == set_cookie(
        "x", "v", settings=SECURE, same_site="none"
    )
    with pytest.raises(ConfigurationError):
        set_cookie("x", "v", settings=DEV, same_site="none")


def test_cookie_name_plus_value_limit_is_4096_bytes() -> None:
    """Name plus value may be 4096 bytes (CK-06); one more raises ConfigurationError."""
    name = "__Host-gp_access"
    fits = "a" * (MAX_COOKIE_BYTES - len(name))
    assert set_cookie("gp_access", fits, settings=SECURE, same_site="lax").startswith(
        f"{name}={fits};"
    )
    with pytest.raises(ConfigurationError):
        set_cookie("gp_access", fits + "a", settings=SECURE, same_site="lax")


@pytest.mark.parametrize(
    "value", ["", "a b", "a;b", "a,b", 'a"b', "a\\b", "a\r\nSet-Cookie: x=y", "caf\u00e9", "a\tb"]
)
def test_values_that_cannot_be_cookies_are_refused(value: str) -> None:
    """A value outside RFC 6265 cookie-octets raises (no header injection, no quoting games)."""
    with pytest.raises(ConfigurationError):
        set_cookie("gp_session", value, settings=SECURE, same_site="lax")


@pytest.mark.parametrize("name", ["", "a b", "a;b", "a=b", "a\r\nx", "caf\u00e9"])
def test_names_that_cannot_be_cookie_names_are_refused(name: str) -> None:
    """set_cookie and clear_cookie refuse a name that is not an HTTP token."""
    with pytest.raises(ConfigurationError):
        set_cookie(name, "v", settings=DEV, same_site="lax")
    with pytest.raises(ConfigurationError):
        clear_cookie(name, settings=DEV)


def test_negative_max_age_is_refused() -> None:
    """A negative Max-Age is a programming error."""
    with pytest.raises(ConfigurationError):
        set_cookie("gp_session", "v", settings=SECURE, same_site="lax", max_age=-1)


# -- parsing -----------------------------------------------------------------------------


def test_parse_simple_header() -> None:
    """Pairs split on ';' with optional spaces."""
    assert {"a": "1", "b": "2", "c": "3"} == parse_cookie_header("a=1; b=2;c=3")


@pytest.mark.parametrize("header", [None, "", ";", " ; ; "])
def test_parse_empty_header(header: str | None) -> None:
    """No header or an empty one gives no cookies."""
    assert {} == parse_cookie_header(header)


def test_parse_first_duplicate_wins() -> None:
    """When a name repeats, the first occurrence wins."""
    assert {"__Host-gp_session": "first", "x": "1"} == parse_cookie_header(
        "__Host-gp_session=first; x=1; __Host-gp_session=second"
    )


def test_parse_strips_one_pair_of_quotes() -> None:
    """A value wrapped in double quotes is unwrapped once; a lone quote is kept."""
    assert {"a": "v", "b": '"v', "c": '"v"', "d": ""} == parse_cookie_header(
        'a="v"; b="v; c=""v""; d=""'
    )


def test_parse_tolerates_garbage() -> None:
    """Pairs without '=' or with an empty name are skipped; '=' inside values is kept."""
    assert {"a": "b=c", "ok": "1", "sp": "x y"} == parse_cookie_header(
        "junk; =nameless; a=b=c;;; ok=1 ;  sp = x y  "
    )


def test_parse_names_are_case_sensitive() -> None:
    """Cookie names are case-sensitive."""
    assert {"A": "1", "a": "2"} == parse_cookie_header("A=1; a=2")


def test_parse_drops_oversized_values() -> None:
    """A value over max_bytes is dropped as if absent; the others are kept."""
    header = f"big={'x' * 8193}; small=1; edge={'y' * 8192}"
    assert {"small": "1", "edge": "y" * 8192} == parse_cookie_header(header)
    assert {"small": "1"} == parse_cookie_header("multi=\u00e9\u00e9; small=1", max_bytes=3)


@settings(max_examples=400)
@given(st.text(max_size=300))
def test_fuzz_parse_cookie_header_never_raises(header: str) -> None:
    """On arbitrary text the parser returns a str-to-str dict with values within the limit."""
    parsed = parse_cookie_header(header, max_bytes=64)
    for name, value in parsed.items():
        assert name
        assert isinstance(value, str)
        assert len(value.encode("utf-8", "surrogatepass")) <= 64


# -- extracting credentials ---------------------------------------------------------------


def test_extract_credential_cookies() -> None:
    """Session, access and refresh cookies become Credentials, in that order."""
    cookies = parse_cookie_header(
        "__Host-gp_refresh=r1; __Host-gp_access=a1; other=x; __Host-gp_session=s1; __Host-gp_csrf=c"
    )
    assert [
        Credential("session_cookie", "s1"),
        Credential("access_cookie", "a1"),
        Credential("refresh_cookie", "r1"),
    ] == CookieTransport(SECURE).extract(cookies)


def test_extract_in_secure_mode_ignores_unprefixed_names() -> None:
    """In secure mode only __Host- names count, so a tossed 'gp_session' cookie is ignored."""
    cookies = {"gp_session": "attacker", "gp_access": "attacker", "gp_refresh": "attacker"}
    assert [] == CookieTransport(SECURE).extract(cookies)


def test_extract_in_dev_mode_uses_bare_names() -> None:
    """In --dev mode the bare names are read."""
    assert [Credential("session_cookie", "s")] == CookieTransport(DEV).extract({"gp_session": "s"})


def test_extract_ignores_empty_and_oversized_values() -> None:
    """A cleared (empty) cookie or one over max_value_bytes is not a credential."""
    transport = CookieTransport(CookieSettings(max_value_bytes=10))
    cookies = {"__Host-gp_session": "", "__Host-gp_access": "x" * 11, "__Host-gp_refresh": "r"}
    assert [Credential("refresh_cookie", "r")] == transport.extract(cookies)


def test_csrf_cookie_is_read_but_never_a_credential() -> None:
    """The CSRF cookie is available to forms but extract never returns it."""
    transport = CookieTransport(SECURE)
    cookies = {"__Host-gp_csrf": "tok"}
    assert "tok" == transport.csrf_token(cookies)
    assert transport.csrf_token({}) is None
    assert [] == transport.extract(cookies)
    assert "__Host-gp_csrf" == transport.csrf_cookie_name


def test_round_trip_from_set_cookie_to_extract() -> None:
    """What session_cookies sets, a browser sends back and extract finds."""
    transport = CookieTransport(SECURE)
    set_values = transport.session_cookies("AbC-_123", "n.m", max_age=None)
    header = "; ".join(v.split(";")[0] for v in set_values)
    assert [Credential("session_cookie", "AbC-_123")] == transport.extract(
        parse_cookie_header(header)
    )


def test_credential_repr_hides_the_value() -> None:
    """A Credential's repr never shows the secret."""
    text = repr(Credential("session_cookie", "super-secret-id"))
    assert "super-secret-id" not in text
    assert "session_cookie" in text


# -- cookie name prefix (CK-07) ----------------------------------------------------------


def test_with_prefix_gp_gives_the_default_names() -> None:
    """with_prefix("gp_") is exactly the default settings (API.md's names)."""
    assert CookieSettings() == CookieSettings.with_prefix("gp_")
    assert DEV == CookieSettings.with_prefix("gp_", secure=False)


def test_with_empty_prefix_names_are_generic() -> None:
    """An empty prefix: __Host-session, -csrf, -access, -refresh; no gp_ name at all."""
    transport = CookieTransport(CookieSettings.with_prefix(""))
    set_values = [
        *transport.session_cookies("s1", "c1", max_age=None),
        *transport.token_cookies("a1", "r1", "c1", access_max_age=60, refresh_max_age=600),
    ]
    names = [v.partition("=")[0] for v in set_values]
    assert [
        "__Host-session",
        "__Host-csrf",
        "__Host-access",
        "__Host-refresh",
        "__Host-csrf",
    ] == names
    assert "__Host-csrf" == transport.csrf_cookie_name
    header = "; ".join(v.split(";")[0] for v in set_values)
    assert [
        Credential("session_cookie", "s1"),
        Credential("access_cookie", "a1"),
        Credential("refresh_cookie", "r1"),
    ] == transport.extract(parse_cookie_header(header))
    assert [] == transport.extract({"__Host-gp_session": "s", "session": "s"})


def test_with_custom_prefix_in_dev_mode() -> None:
    """A custom prefix in dev mode gives bare prefixed names, and only those are read."""
    settings = CookieSettings.with_prefix("Sso-1_", secure=False)
    assert ("Sso-1_session", "Sso-1_csrf") == (settings.session_name, settings.csrf_name)
    transport = CookieTransport(settings)
    assert [Credential("access_cookie", "a")] == transport.extract(
        {"Sso-1_access": "a", "gp_session": "s"}
    )
    assert clear_cookie(settings.refresh_name, settings=settings, same_site="strict").startswith(
        "Sso-1_refresh=;"
    )


def test_with_prefix_accepts_16_characters() -> None:
    assert "p" * 16 + "csrf" == CookieSettings.with_prefix("p" * 16).csrf_name


@pytest.mark.parametrize(
    "prefix", ["p" * 17, "gp;", "gp=", "a b", "gp.", "gp\n", "é_", "__Host-", "__Secure-", "__x"]
)
def test_with_prefix_refuses_bad_prefixes(prefix: str) -> None:
    """Only A-Z a-z 0-9 _ -, at most 16, and no leading __ (browser cookie prefixes)."""
    with pytest.raises(ConfigurationError, match="cookie prefix"):
        CookieSettings.with_prefix(prefix)


@pytest.mark.parametrize("name", ["", "caf\u00e9", "\u0661\u0662", "a b", "x" * 65])
def test_cookie_settings_refuse_names_that_are_not_ascii_tokens(name: str) -> None:
    """CookieSettings accepts only A-Z a-z 0-9 _ - names (str.isalnum() would pass
    Unicode letters and digits)."""
    with pytest.raises(ConfigurationError):
        CookieSettings(session_name=name)
    assert "gp_session" == CookieSettings(session_name="gp_session").session_name  # control


# -- the fast path's cookie read ------------------------------------------------------------


_NAMES = ["gp_session", "gp_access", "gp_refresh", "gp_csrf", "other", " gp_session", "gp_access "]
_VALUES = st.one_of(
    st.sampled_from(["", "v1", '"q"', '""', "x" * 70, "\u00e9" * 40, " spaced "]),
    st.text(max_size=80),
)


@settings(max_examples=400)
@given(
    st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=6),
    st.sampled_from(["; ", ";", " ; "]),
)
def test_fuzz_login_cookies_agree_with_extract(pairs: list[tuple[str, str]], sep: str) -> None:
    """login_cookies finds exactly the session and access values extract() finds.

    Asked twice: the second answer of a header within the cap comes from the memo.
    """
    transport = CookieTransport(CookieSettings(secure=False, max_value_bytes=64))
    header = sep.join(f"{name}={value}" for name, value in pairs)
    found = {c.kind: c.value for c in transport.extract(parse_cookie_header(header, max_bytes=64))}
    expected = (found.get("session_cookie"), found.get("access_cookie"))
    assert expected == transport.login_cookies(header) == transport.login_cookies(header)


def test_login_cookies_memo_is_bounded() -> None:
    """At most _MEMO_SIZE headers are remembered, and none longer than _MEMO_MAX_CHARS."""
    transport = CookieTransport(CookieSettings(secure=False, max_value_bytes=64))
    memo = transport._login_cookies_memo
    for i in range(_MEMO_SIZE):
        assert (f"s{i}", None) == transport.login_cookies(f"gp_session=s{i}")
    assert _MEMO_SIZE == len(memo)
    assert ("s0", None) == transport.login_cookies("gp_session=s0")  # a hit: nothing added
    assert _MEMO_SIZE == len(memo)
    for i in range(_MEMO_SIZE, _MEMO_SIZE + 100):  # full: emptied, then refilled
        assert (f"s{i}", None) == transport.login_cookies(f"gp_session=s{i}")
    assert 100 == len(memo)
    memo.clear()
    long_header = "gp_session=s1; " + "; ".join(f"c{i}=v" for i in range(_MEMO_MAX_CHARS // 5))
    assert len(long_header) > _MEMO_MAX_CHARS
    assert ("s1", None) == transport.login_cookies(long_header)
    assert 0 == len(memo)
