"""Frozen settings objects. No environment variables are read here (see ``server``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gatepass.errors import ConfigurationError
from gatepass.types import SameSite

__all__ = [
    "MAX_SESSION_CACHE_TTL",
    "CookieSettings",
    "PasswordSettings",
    "SessionSettings",
    "TokenSettings",
]

#: The longest ``SessionSettings.cache_ttl`` (seconds): no instance serves a session
#: read from memory for longer, which bounds how long a rotated-away id must be kept.
MAX_SESSION_CACHE_TTL = 60


#: A cookie name prefix (CK-07): at most 16 of ``A-Z a-z 0-9 _ -``, possibly none.
_COOKIE_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,16}")
#: A cookie name: RFC 6265 token characters, narrowed to ``A-Z a-z 0-9 _ -``.
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value!r}")


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """How access and refresh tokens are issued and checked."""

    #: ``iss`` of issued tokens; verification requires exact equality.
    issuer: str = "gatepass"
    #: ``aud`` of issued tokens; verification requires it among the token's audiences.
    audience: str = "gatepass"
    #: Lifetime of an access token, seconds.
    access_ttl: int = 600
    #: Absolute lifetime of a refresh-token family (a login), seconds.
    refresh_ttl: int = 30 * 24 * 3600
    #: Seconds a just-spent refresh token may be presented again and get the same
    #: successor (two tabs refreshing at once); after that it counts as reuse.
    refresh_grace: int = 10
    #: Allowed clock skew for ``exp``/``nbf``/``iat``, seconds.
    leeway: int = 5
    #: Largest token accepted, in bytes; checked before any decoding.
    max_token_bytes: int = 8192

    def __post_init__(self) -> None:
        _positive("access_ttl", self.access_ttl)
        _positive("refresh_ttl", self.refresh_ttl)
        _positive("max_token_bytes", self.max_token_bytes)
        if self.leeway < 0 or self.leeway > 300:
            raise ConfigurationError("leeway must be between 0 and 300 seconds")
        if self.refresh_grace < 0 or self.refresh_grace > 120:
            raise ConfigurationError("refresh_grace must be between 0 and 120 seconds")
        if not self.issuer or not self.audience:
            raise ConfigurationError("issuer and audience must be non-empty")


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Server-side session lifetimes."""

    #: A session unused for this long is dead (seconds).
    idle_ttl: int = 1800
    #: A session is dead this long after login, however active (seconds).
    absolute_ttl: int = 12 * 3600
    #: ``last_seen_at`` is written at most once per this many seconds per session.
    touch_interval: int = 60
    #: Seconds a session read may be served from process memory (0: always read the
    #: store). Only used while the revocation feed is healthy, which invalidates
    #: entries of ended sessions at once; idle and absolute deadlines are checked on
    #: every request, hit or not. A hit is cheaper than any store read (the auth server
    #: sets the longest, :data:`MAX_SESSION_CACHE_TTL`, for every store). Each read is
    #: kept between 0.9 and 1 times ``cache_ttl``, at random, so that reads made
    #: together (after a restart) are not all made again in the same second.
    cache_ttl: float = 0.0
    #: Most sessions held in the local cache.
    cache_size: int = 10_000

    def __post_init__(self) -> None:
        _positive("idle_ttl", self.idle_ttl)
        if not 0 <= self.cache_ttl <= MAX_SESSION_CACHE_TTL:
            raise ConfigurationError(
                f"cache_ttl must be between 0 and {MAX_SESSION_CACHE_TTL} seconds"
            )
        _positive("absolute_ttl", self.absolute_ttl)
        if self.touch_interval < 0 or self.touch_interval >= self.idle_ttl:
            raise ConfigurationError("touch_interval must be >= 0 and < idle_ttl")


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """Names and attributes of the credential cookies.

    With ``secure=True`` (every mode but ``--dev``) names carry the ``__Host-``
    prefix and cookies are ``Secure``; ``__Host-`` also forbids ``Domain`` and any
    ``Path`` but ``/``, so neither is configurable.
    """

    secure: bool = True
    session_name: str = "gp_session"
    access_name: str = "gp_access"
    refresh_name: str = "gp_refresh"
    csrf_name: str = "gp_csrf"
    session_same_site: SameSite = "lax"
    access_same_site: SameSite = "lax"
    refresh_same_site: SameSite = "strict"
    csrf_same_site: SameSite = "lax"
    #: Largest cookie or header value accepted, in bytes.
    max_value_bytes: int = 8192

    def __post_init__(self) -> None:
        for name in (self.session_name, self.access_name, self.refresh_name, self.csrf_name):
            if not _COOKIE_NAME.fullmatch(name):  # ASCII only: str.isalnum() is Unicode
                raise ConfigurationError(f"invalid cookie name {name!r}")
        if not self.secure and "none" in (
            self.session_same_site,
            self.access_same_site,
            self.refresh_same_site,
            self.csrf_same_site,
        ):
            raise ConfigurationError("SameSite=None requires secure cookies")

    @classmethod
    def with_prefix(cls, prefix: str, *, secure: bool = True) -> CookieSettings:
        """Settings naming the cookies ``prefix`` + ``session``/``access``/``refresh``/``csrf``.

        ``with_prefix("gp_")`` gives the default names; ``with_prefix("")`` gives generic
        ones (``__Host-session`` in secure mode) that do not name the software
        (OWASP "Session ID Name Fingerprinting", SECURITY.md CK-07). Other fields keep
        their defaults (change them with :func:`dataclasses.replace`).

        Raises:
            ConfigurationError: the prefix has more than 16 characters, one outside
                ``A-Z a-z 0-9 _ -``, or starts with ``__`` (reserved for the browsers'
                ``__Host-``/``__Secure-`` prefixes, which ``secure`` adds itself).
        """
        _check_cookie_prefix(prefix)
        return cls(
            secure=secure,
            session_name=f"{prefix}session",
            access_name=f"{prefix}access",
            refresh_name=f"{prefix}refresh",
            csrf_name=f"{prefix}csrf",
        )

    def full_name(self, name: str) -> str:
        """The cookie name as sent: ``__Host-`` + name in secure mode."""
        return f"__Host-{name}" if self.secure else name


def _check_cookie_prefix(prefix: str) -> None:
    """Check a cookie name prefix (see :meth:`CookieSettings.with_prefix`).

    Raises:
        ConfigurationError: it is not at most 16 of ``A-Z a-z 0-9 _ -``, or starts
            with ``__``.
    """
    if not _COOKIE_PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"invalid cookie prefix {prefix!r}: use at most 16 of A-Z a-z 0-9 _ -"
        )
    if prefix.startswith("__"):
        raise ConfigurationError(
            f"invalid cookie prefix {prefix!r}: a leading __ is reserved for __Host-/__Secure-"
        )


@dataclass(frozen=True, slots=True)
class PasswordSettings:
    """argon2id parameters (OWASP minimum by default) and the password policy."""

    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16
    min_length: int = 8
    max_length: int = 1024
    #: At most this many hashes run at once (worker threads); default: CPUs - 1 (>= 1).
    max_concurrency: int | None = None
    #: Hash in threads of the lowest CPU priority (Linux ``SCHED_IDLE``), so that a
    #: login storm takes only CPU time that requests leave over; elsewhere a no-op.
    background_priority: bool = True
    #: Refuse passwords from the shipped common-password list.
    refuse_common: bool = True
    extra_forbidden: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.min_length < 1 or self.max_length < self.min_length:
            raise ConfigurationError("password length bounds are inconsistent")
        if self.time_cost < 1 or self.memory_cost < 8 * self.parallelism or self.parallelism < 1:
            raise ConfigurationError("argon2 parameters are out of range")
