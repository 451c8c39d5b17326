"""``gatepass serve``: run the auth server (every API.md setting is a flag; flags win).

Each flag left out falls back to its ``GATEPASS_*`` environment variable, then to the
default of :class:`~gatepass.server.settings.ServerSettings`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gatepass.errors import ConfigurationError, GatepassError
from gatepass.server.settings import SIGNING_ALGS, ServerSettings

__all__ = ["register", "run", "settings_from_args"]

#: The settings fields a flag may set (each flag's ``dest``).
_FIELDS = (
    "host", "port", "store", "redis", "issuer", "audience", "signing_alg", "access_ttl",
    "refresh_ttl", "session_idle_ttl", "session_absolute_ttl", "allowed_origins",
    "login_limit", "account_limit", "leeway", "reauth_window", "dev", "metrics", "demo_api",
    "cookie_prefix",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` subcommand (flags in API.md's order; every default is None)."""
    parser = subparsers.add_parser(
        "serve",
        help="run the auth server",
        description="Run the gatepass auth server (API.md). Every flag overrides its "
        "GATEPASS_* environment variable. Outside --dev, cookies are Secure and "
        "__Host- prefixed: run the server behind TLS.",
    )
    parser.set_defaults(func=run, **dict.fromkeys(_FIELDS))
    add = parser.add_argument
    add("--host", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, help="port to listen on; 0 picks a free one (default 8000)")
    add(
        "--store",
        help="store URL: sqlite:///path.db or memory:// (GATEPASS_STORE; "
        "default sqlite:///gatepass.db)",
    )
    add("--redis", help="Redis URL for sessions, revocations and counters (GATEPASS_REDIS)")
    add("--issuer", help="iss of issued tokens (GATEPASS_ISSUER; default the base URL)")
    add("--audience", help="aud of issued tokens (GATEPASS_AUDIENCE; default gatepass)")
    add(
        "--signing-alg",
        choices=SIGNING_ALGS,
        help="algorithm of the signing key (GATEPASS_SIGNING_ALG; default EdDSA)",
    )
    add("--access-ttl", type=int, help="access token lifetime, seconds (default 600)")
    add(
        "--refresh-ttl",
        type=int,
        help="absolute lifetime of a token login, seconds (default 2592000)",
    )
    add("--session-idle-ttl", type=int, help="session idle timeout, seconds (default 1800)")
    add(
        "--session-absolute-ttl", type=int, help="session absolute timeout, seconds (default 43200)"
    )
    add(
        "--allowed-origin",
        dest="allowed_origins",
        action="append",
        metavar="ORIGIN",
        help="origin allowed on cookie requests; repeatable (default: our own)",
    )
    add(
        "--login-limit",
        help="failed logins allowed per account and per address (default 10/minute)",
    )
    add(
        "--account-limit",
        help="failed logins per account (any address) before addresses without a recent "
        "successful login are refused (GATEPASS_ACCOUNT_LIMIT; default 100/hour)",
    )
    add("--leeway", type=int, help="clock skew allowed on exp/nbf/iat, seconds (default 5)")
    add(
        "--reauth-window",
        type=int,
        metavar="SECONDS",
        help="how long after a login it may end other logins without the password again "
        "(GATEPASS_REAUTH_WINDOW; default 600; 0 always asks)",
    )
    add(
        "--dev",
        action="store_true",
        default=None,
        help="dev mode: plain-http cookies, no Secure or __Host- (GATEPASS_DEV)",
    )
    add(
        "--metrics",
        action="store_true",
        default=None,
        help="serve Prometheus metrics at /metrics (needs prometheus-client)",
    )
    add(
        "--demo-api",
        metavar="ORIGIN",
        help="origin of an API service the /app demo calls, e.g. examples/api_service.py "
        "(GATEPASS_DEMO_API; default none)",
    )
    add(
        "--cookie-prefix",
        metavar="PREFIX",
        help="start of every cookie name, at most 16 of A-Z a-z 0-9 _ -; '' gives "
        "generic names (__Host-session) that do not reveal the software "
        "(GATEPASS_COOKIE_PREFIX; default gp_)",
    )


def settings_from_args(
    args: argparse.Namespace, environ: dict[str, str] | None = None
) -> ServerSettings:
    """ServerSettings from the environment with the given flags on top.

    Raises:
        ConfigurationError: a value is out of range or malformed.
    """
    overrides: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = tuple(value) if isinstance(value, list) else value
    env = dict(os.environ) if environ is None else environ
    return ServerSettings.from_env(env, **overrides)


def run(args: argparse.Namespace) -> int:
    """Run ``gatepass serve``; 0 after a clean stop, 1 on failure, 2 on bad settings."""
    try:
        settings = settings_from_args(args)
    except ConfigurationError as exc:
        print(f"gatepass serve: error: {exc.detail}", file=sys.stderr)
        return 2
    from gatepass.server.run import serve

    try:
        return serve(settings)
    except ConfigurationError as exc:
        print(f"gatepass serve: error: {exc.detail}", file=sys.stderr)
        return 2
    except GatepassError as exc:
        print(f"gatepass serve: error: {exc.public_detail}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gatepass serve: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
