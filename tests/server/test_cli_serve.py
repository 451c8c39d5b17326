"""``gatepass serve`` flags: every API.md setting is a flag, and flags win over variables."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from gatepass.cli import serve
from gatepass.errors import ConfigurationError
from gatepass.server.settings import ServerSettings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gatepass")
    serve.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_every_setting_has_a_flag() -> None:
    """Each ServerSettings field but allowed_scopes is settable by a flag."""
    args = parse(
        "--host", "192.0.2.1", "--port", "9000", "--store", "memory://",
        "--redis", "redis://localhost", "--issuer", "https://auth.example",
        "--audience", "api", "--signing-alg", "ES256", "--access-ttl", "60",
        "--refresh-ttl", "3600", "--session-idle-ttl", "120", "--session-absolute-ttl", "600",
        "--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example",
        "--login-limit", "5/minute", "--account-limit", "20/hour", "--leeway", "2",
        "--reauth-window", "60", "--dev", "--metrics",
        "--demo-api", "http://127.0.0.1:9000", "--cookie-prefix", "app_",
    )  # fmt: skip
    settings = serve.settings_from_args(args, environ={})
    expected = ServerSettings(
        host="192.0.2.1",
        port=9000,
        store="memory://",
        redis="redis://localhost",
        issuer="https://auth.example",
        audience="api",
        signing_alg="ES256",
        access_ttl=60,
        refresh_ttl=3600,
        session_idle_ttl=120,
        session_absolute_ttl=600,
        allowed_origins=("https://a.example", "https://b.example"),
        login_limit="5/minute",
        account_limit="20/hour",
        leeway=2,
        reauth_window=60,
        dev=True,
        metrics=True,
        demo_api="http://127.0.0.1:9000",
        cookie_prefix="app_",
    )
    assert expected == settings
    defaults = ServerSettings()
    changed = {
        f.name
        for f in dataclasses.fields(ServerSettings)
        if getattr(settings, f.name) != getattr(defaults, f.name)
    }
    assert {f.name for f in dataclasses.fields(ServerSettings)} - {"allowed_scopes"} == changed


@pytest.mark.parametrize("value", ["ftp://x.example", "not a url", "http://a@b.example"])
def test_demo_api_must_be_an_origin(value: str) -> None:
    with pytest.raises(ConfigurationError, match="demo API"):
        ServerSettings(demo_api=value)


def test_demo_api_origin_is_normalised() -> None:
    assert (
        "http://127.0.0.1:9000" == ServerSettings(demo_api="HTTP://127.0.0.1:9000/").demo_api_origin
    )
    assert ServerSettings().demo_api_origin is None


def test_flags_win_over_environment() -> None:
    """A flag beats its GATEPASS_* variable; an absent flag falls back to the variable."""
    env = {"GATEPASS_STORE": "sqlite:///env.db", "GATEPASS_ACCESS_TTL": "30", "GATEPASS_DEV": "1"}
    settings = serve.settings_from_args(parse("--store", "memory://"), environ=env)
    assert ("memory://", 30, True) == (settings.store, settings.access_ttl, settings.dev)


def test_defaults_without_flags_or_variables() -> None:
    """No flags and no variables: the API.md defaults."""
    assert ServerSettings() == serve.settings_from_args(parse(), environ={})


def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid setting makes `serve` exit 2 with a message, without starting anything."""
    args = parse("--login-limit", "lots", "--store", "memory://")
    assert 2 == serve.run(args)
    assert "gatepass serve: error:" in capsys.readouterr().err
    assert 2 == serve.run(parse("--store", "ftp://nowhere"))


def test_account_limit_from_flag_variable_and_default() -> None:
    """GATEPASS_ACCOUNT_LIMIT / --account-limit: default 100/hour, parsed like the login limit."""
    assert (100, 3600) == ServerSettings().account_rate
    env = {"GATEPASS_ACCOUNT_LIMIT": "50/day"}
    assert (50, 86400) == serve.settings_from_args(parse(), environ=env).account_rate
    flagged = serve.settings_from_args(parse("--account-limit", "5/30s"), environ=env)
    assert (5, 30) == flagged.account_rate
    for bad in ("0/hour", "lots", "10/fortnight"):
        with pytest.raises(ConfigurationError, match="invalid rate"):
            ServerSettings(account_limit=bad)


def test_cookie_prefix_default_empty_and_custom() -> None:
    """Default gp_ (API.md's names); "" and a custom prefix rename every cookie."""
    default = serve.settings_from_args(parse(), environ={})
    assert ("gp_", "gp_session", "gp_prelogin") == (
        default.cookie_prefix,
        default.cookies.session_name,
        default.prelogin_cookie,
    )
    empty = serve.settings_from_args(parse("--cookie-prefix", ""), environ={})
    names = empty.cookies
    assert ["__Host-session", "__Host-access", "__Host-refresh", "__Host-csrf"] == [
        names.full_name(n)
        for n in (names.session_name, names.access_name, names.refresh_name, names.csrf_name)
    ]
    assert "prelogin" == empty.prelogin_cookie
    custom = serve.settings_from_args(parse("--cookie-prefix", "sso_", "--dev"), environ={})
    assert ("sso_csrf", "sso_csrf") == (
        custom.cookies.csrf_name,
        custom.cookies.full_name(custom.cookies.csrf_name),
    )


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({"GATEPASS_COOKIE_PREFIX": "sso_"}, (), "sso_"),
        ({"GATEPASS_COOKIE_PREFIX": ""}, (), ""),  # set but empty: the empty prefix
        ({"GATEPASS_COOKIE_PREFIX": "sso_"}, ("--cookie-prefix", "web_"), "web_"),
        ({"GATEPASS_COOKIE_PREFIX": "sso_"}, ("--cookie-prefix", ""), ""),
        ({"GATEPASS_COOKIE_PREFIX": ""}, ("--cookie-prefix", "gp_"), "gp_"),
    ],
)
def test_cookie_prefix_flag_wins_over_environment(
    env: dict[str, str], argv: tuple[str, ...], expected: str
) -> None:
    """GATEPASS_COOKIE_PREFIX applies without the flag (even empty); the flag wins."""
    assert expected == serve.settings_from_args(parse(*argv), environ=env).cookie_prefix


@pytest.mark.parametrize("prefix", ["p" * 17, "gp;", "a b", "gp.", "__Host-"])
def test_bad_cookie_prefix_is_a_configuration_error(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="cookie prefix"):
        ServerSettings(cookie_prefix=prefix)
    with pytest.raises(ConfigurationError, match="cookie prefix"):
        serve.settings_from_args(parse(), environ={"GATEPASS_COOKIE_PREFIX": prefix})


def test_bad_cookie_prefix_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad --cookie-prefix or GATEPASS_COOKIE_PREFIX: exit 2 with a message, no server."""
    assert 2 == serve.run(parse("--cookie-prefix", "gp;", "--store", "memory://"))
    assert "gatepass serve: error: invalid cookie prefix 'gp;'" in capsys.readouterr().err
    monkeypatch.setenv("GATEPASS_COOKIE_PREFIX", "x" * 17)
    assert 2 == serve.run(parse("--store", "memory://"))
    assert "cookie prefix" in capsys.readouterr().err
