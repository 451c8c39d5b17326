"""Server settings: every API.md setting as a field, read from ``GATEPASS_*`` variables.

This module and the CLI are the only places that read the environment. Flags win
over variables (the CLI passes explicit values to :meth:`ServerSettings.from_env`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from gatepass.config import CookieSettings, SessionSettings, TokenSettings
from gatepass.errors import ConfigurationError
from gatepass.transports.csrf import origin_of

__all__ = ["ServerSettings", "parse_rate"]

_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day|\d+s)\s*")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SIGNING_ALGS = ("EdDSA", "Ed25519", "ES256", "RS256", "HS256")
#: Settings whose variable, set but empty, means the empty value rather than "unset".
_EMPTY_IS_A_VALUE = frozenset({"cookie_prefix"})


def parse_rate(text: str) -> tuple[int, int]:
    """``"10/minute"`` -> (10, 60); also ``second``, ``hour``, ``day`` and ``"5/30s"``."""
    match = _RATE.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise ConfigurationError(f"invalid rate {text!r}: use e.g. 10/minute")
    unit = match.group(2)
    window = int(unit[:-1]) if unit.endswith("s") and unit[:-1].isdigit() else _UNITS[unit]
    if window < 1:
        raise ConfigurationError(f"invalid rate window in {text!r}")
    return int(match.group(1)), window


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything ``gatepass serve`` can be told (API.md "Settings")."""

    host: str = "127.0.0.1"
    port: int = 8000
    store: str = "sqlite:///gatepass.db"
    redis: str | None = None
    issuer: str | None = None
    audience: str = "gatepass"
    signing_alg: str = "EdDSA"
    access_ttl: int = 600
    refresh_ttl: int = 2_592_000
    session_idle_ttl: int = 1800
    session_absolute_ttl: int = 43_200
    allowed_origins: tuple[str, ...] = ()
    login_limit: str = "10/minute"
    #: Failed logins per account per window before untrusted addresses are refused.
    account_limit: str = "100/hour"
    leeway: int = 5
    #: Seconds after a login during which it may end other logins or change the
    #: password without giving the password again.
    reauth_window: int = 600
    dev: bool = False
    metrics: bool = False
    #: Scopes a client may request at token login / exchange.
    allowed_scopes: tuple[str, ...] = field(default=("read", "write"))
    #: Origin of an API service the ``/app`` demo calls (``examples/api_service.py``).
    demo_api: str | None = None
    #: Start of every cookie name (``gp_session``...); ``""`` gives generic names that
    #: do not reveal the software (``__Host-session``; CK-07).
    cookie_prefix: str = "gp_"

    def __post_init__(self) -> None:
        if self.signing_alg not in SIGNING_ALGS:
            raise ConfigurationError(
                f"signing alg must be one of {', '.join(SIGNING_ALGS)}, got {self.signing_alg!r}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigurationError("port must be 0-65535")
        for name in ("access_ttl", "refresh_ttl", "session_idle_ttl", "session_absolute_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be positive")
        if not 0 <= self.leeway <= 300:
            raise ConfigurationError("leeway must be 0-300 seconds")
        if not 0 <= self.reauth_window <= 86_400:
            raise ConfigurationError("reauth window must be 0-86400 seconds")
        parse_rate(self.login_limit)
        parse_rate(self.account_limit)
        if self.demo_api is not None and origin_of(self.demo_api.removesuffix("/")) is None:
            raise ConfigurationError(
                "demo API must be an http(s) origin, e.g. http://127.0.0.1:9000"
            )
        CookieSettings.with_prefix(self.cookie_prefix)

    @property
    def base_url(self) -> str:
        """The server's own base URL (``http`` only in dev mode)."""
        scheme = "http" if self.dev else "https"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def effective_issuer(self) -> str:
        """``iss`` of issued tokens: the setting, or the server's own base URL."""
        return self.issuer or self.base_url

    @property
    def effective_origins(self) -> tuple[str, ...]:
        """Origins allowed on cookie-authenticated unsafe requests (default: our own).

        In dev mode ``localhost`` and ``127.0.0.1`` on the same port are both ours.
        """
        if self.allowed_origins:
            return self.allowed_origins
        origins = [self.base_url]
        if self.dev and self.host in ("127.0.0.1", "localhost"):
            other = "localhost" if self.host == "127.0.0.1" else "127.0.0.1"
            origins.append(f"http://{other}:{self.port}")
        return tuple(origins)

    @property
    def demo_api_origin(self) -> str | None:
        """The normalised origin of :attr:`demo_api`, if set."""
        return origin_of(self.demo_api.removesuffix("/")) if self.demo_api else None

    @property
    def token_settings(self) -> TokenSettings:
        """The tokens' issuer, audience and lifetimes."""
        return TokenSettings(
            issuer=self.effective_issuer,
            audience=self.audience,
            access_ttl=self.access_ttl,
            refresh_ttl=self.refresh_ttl,
            leeway=self.leeway,
        )

    @property
    def session_settings(self) -> SessionSettings:
        """The sessions' lifetimes (``last_seen_at`` written at most once per minute or per
        tenth of the idle timeout, whichever is shorter; no local cache: the server sets
        its own)."""
        return SessionSettings(
            idle_ttl=self.session_idle_ttl,
            absolute_ttl=self.session_absolute_ttl,
            touch_interval=min(60, max(0, self.session_idle_ttl // 10)),
        )

    @property
    def cookies(self) -> CookieSettings:
        """The cookie settings: names from :attr:`cookie_prefix`, secure unless dev."""
        return CookieSettings.with_prefix(self.cookie_prefix, secure=not self.dev)

    @property
    def prelogin_cookie(self) -> str:
        """Base name of the pages' pre-login (login CSRF) cookie: prefix + ``prelogin``."""
        return f"{self.cookie_prefix}prelogin"

    @property
    def login_rate(self) -> tuple[int, int]:
        """(limit, window seconds) of the login throttle."""
        return parse_rate(self.login_limit)

    @property
    def account_rate(self) -> tuple[int, int]:
        """(limit, window seconds) of the account-wide cap on failed logins."""
        return parse_rate(self.account_limit)

    def with_overrides(self, **changes: Any) -> ServerSettings:
        """A copy with the given non-None fields replaced (flags win over variables)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerSettings:
        """Settings from ``GATEPASS_*`` variables, then ``overrides`` (non-None) on top.

        An empty variable counts as unset, except ``GATEPASS_COOKIE_PREFIX``, for which
        the empty prefix is a value of its own.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"GATEPASS_{f.name.upper()}")
            if raw is None or (raw == "" and f.name not in _EMPTY_IS_A_VALUE):
                continue
            values[f.name] = _convert(f.name, raw, f.type)
        return replace(cls(), **values).with_overrides(**overrides)


def _convert(name: str, raw: str, annotation: object) -> Any:
    kind = str(annotation)
    try:
        if kind == "bool":
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in re.split(r"[,\s]+", raw) if part.strip())
    except ValueError as exc:
        raise ConfigurationError(f"GATEPASS_{name.upper()}: invalid value") from exc
    return raw
