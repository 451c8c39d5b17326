"""The cookie transport: parse ``Cookie``, build ``Set-Cookie``, framework-free.

Cookies follow API.md's table. In secure mode (every mode but ``--dev``) each name
carries the ``__Host-`` prefix and each cookie is ``Secure``, ``Path=/`` and has no
``Domain``: a browser then refuses the cookie from a sibling subdomain or plain http,
which defeats cookie tossing (SECURITY.md CK-01, CK-04, S-06c). The session, access and
refresh cookies are ``HttpOnly``; the CSRF cookie is not (page scripts read it to send
``X-CSRF-Token``). Cookies carrying credentials always need a CSRF check on unsafe
methods (see :mod:`gatepass.transports.csrf`); that is the caller's job.

Duplicate names in one ``Cookie`` header: **the first occurrence wins**. Browsers send
cookies with longer paths first, then older ones first (RFC 6265 section 5.4); every
gatepass cookie has ``Path=/``, and in secure mode a ``__Host-`` cookie can only be set
by the host itself over https, so an attacker cannot plant a duplicate ahead of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gatepass.config import CookieSettings
from gatepass.errors import ConfigurationError
from gatepass.transports.base import Credential, CredentialKind
from gatepass.types import SameSite

__all__ = [
    "MAX_COOKIE_BYTES",
    "CookieTransport",
    "clear_cookie",
    "parse_cookie_header",
    "set_cookie",
]

#: Largest name + value a browser must keep (RFC 6265 section 6.1; ASVS 5 3.3.5, CK-06).
MAX_COOKIE_BYTES = 4096

# cookie-octet of RFC 6265 section 4.1.1: visible ASCII but DQUOTE, comma, semicolon,
# backslash (and no whitespace or control characters).
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
# cookie-name = token (RFC 6265 section 4.1.1, RFC 9110 tchar).
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
#: How many Cookie headers :meth:`CookieTransport.login_cookies` remembers (as many as the
#: session id memo: one per active browser), and the longest it remembers.
_MEMO_SIZE = 4096
_MEMO_MAX_CHARS = 1024


def parse_cookie_header(header: str | None, *, max_bytes: int = 8192) -> dict[str, str]:
    """Parse a ``Cookie`` header tolerantly (RFC 6265 section 5.2 style).

    Pairs are split on ``;``; a pair without ``=`` or with an empty name is skipped;
    names and values are stripped of spaces and tabs; one pair of double quotes around
    a value is removed. The first occurrence of a name wins (see the module docstring).
    A value longer than ``max_bytes`` (UTF-8) is dropped, as if it had not been sent.
    Never raises.

    Args:
        header: the header value (several ``Cookie`` headers joined with ``"; "``), or
            ``None`` when absent.
        max_bytes: the largest value kept.
    """
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        if not sep:
            continue
        name = name.strip(" \t")
        if not name or name in cookies:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if len(value) > max_bytes or (
            not value.isascii() and len(value.encode("utf-8", "surrogatepass")) > max_bytes
        ):
            continue
        cookies[name] = value
    return cookies


def _full_name(name: str, settings: CookieSettings) -> str:
    full = settings.full_name(name)
    if not _COOKIE_NAME.fullmatch(full):
        raise ConfigurationError(f"invalid cookie name {name!r}")
    return full


def _attributes(
    settings: CookieSettings, same_site: SameSite, http_only: bool, lifetime: str
) -> str:
    if same_site not in _SAME_SITE:
        raise ConfigurationError(f"invalid SameSite value {same_site!r}")
    if same_site == "none" and not settings.secure:
        raise ConfigurationError("SameSite=None requires secure cookies")
    parts = ["Path=/"]
    if lifetime:
        parts.append(lifetime)
    if settings.secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    parts.append(f"SameSite={_SAME_SITE[same_site]}")
    return "; ".join(parts)


def set_cookie(
    name: str,
    value: str,
    *,
    settings: CookieSettings,
    same_site: SameSite,
    http_only: bool = True,
    max_age: int | None = None,
) -> str:
    """Build a ``Set-Cookie`` header value.

    For example ``__Host-gp_session=v; Path=/; Secure; HttpOnly; SameSite=Lax``.

    Args:
        name: the base name (``"gp_session"``); ``settings.full_name`` adds ``__Host-``
            in secure mode.
        value: the cookie value; only RFC 6265 cookie-octets (base64url, JWTs and
            gatepass's refresh and CSRF tokens all are).
        settings: the cookie settings (secure mode or ``--dev``).
        same_site: ``"lax"``, ``"strict"`` or ``"none"`` (``none`` needs secure mode).
        http_only: hide the cookie from page scripts (every credential cookie).
        max_age: seconds until the browser drops it; ``None`` for a browser-session
            cookie (no ``Max-Age``, no ``Expires``).

    There is never a ``Domain`` attribute, and ``Path`` is always ``/``.

    Raises:
        ConfigurationError: a name that is not an HTTP token, a value with
            characters a cookie cannot carry, a negative ``max_age``, or a name plus
            value over 4096 bytes (CK-06), e.g. a JWT grown too large by its claims.
    """
    full = _full_name(name, settings)
    if not _COOKIE_VALUE.fullmatch(value):
        raise ConfigurationError(f"cookie {full} value has characters a cookie cannot carry")
    if len(full) + len(value) > MAX_COOKIE_BYTES:
        raise ConfigurationError(f"cookie {full} would exceed {MAX_COOKIE_BYTES} bytes")
    if max_age is not None and max_age < 0:
        raise ConfigurationError("max_age must not be negative")
    lifetime = "" if max_age is None else f"Max-Age={max_age}"
    return f"{full}={value}; " + _attributes(settings, same_site, http_only, lifetime)


def clear_cookie(
    name: str,
    *,
    settings: CookieSettings,
    same_site: SameSite = "lax",
    http_only: bool = True,
) -> str:
    """Build a ``Set-Cookie`` value that deletes a cookie set by :func:`set_cookie`.

    Same name, ``Path`` and attributes (so the browser matches it, and accepts it for a
    ``__Host-`` name), an empty value, ``Max-Age=0`` and an ``Expires`` in 1970.
    """
    full = _full_name(name, settings)
    lifetime = f"Max-Age=0; Expires={_EXPIRED}"
    return f"{full}=; " + _attributes(settings, same_site, http_only, lifetime)


_CREDENTIAL_COOKIES: tuple[tuple[str, CredentialKind], ...] = (
    ("session_name", "session_cookie"),
    ("access_name", "access_cookie"),
    ("refresh_name", "refresh_cookie"),
)


class CookieTransport:
    """Credentials in cookies: read them from a request, write and clear them.

    Args:
        settings: names, ``SameSite`` values, secure mode and the value size cap.
    """

    def __init__(self, settings: CookieSettings | None = None) -> None:
        self._settings = settings or CookieSettings()
        s = self._settings
        #: ``settings.max_value_bytes``, as a plain attribute for the per-request path.
        self.max_value_bytes = s.max_value_bytes
        self._names: tuple[tuple[str, CredentialKind], ...] = tuple(
            (s.full_name(getattr(s, attr)), kind) for attr, kind in _CREDENTIAL_COOKIES
        )
        self._session_name = s.full_name(s.session_name)
        self._access_name = s.full_name(s.access_name)
        #: login_cookies' memo: a browser sends the same Cookie header on every request
        #: while its login lives. A plain dict, emptied when full: a hit only reads it
        #: (an LRU would relink its entry on every hit, writing to memory no other part
        #: of the request touches).
        self._login_cookies_memo: dict[str, tuple[str | None, str | None]] = {}

    @property
    def settings(self) -> CookieSettings:
        """The cookie settings in use."""
        return self._settings

    @property
    def csrf_cookie_name(self) -> str:
        """The full name of the CSRF cookie (what page scripts read)."""
        return self._settings.full_name(self._settings.csrf_name)

    def extract(self, cookies: Mapping[str, str]) -> list[Credential]:
        """The credential cookies present, in the order session, access, refresh.

        An empty value (a cleared cookie) or one over ``settings.max_value_bytes`` is
        ignored. Which credential to use is the caller's choice.
        """
        found: list[Credential] = []
        for full, kind in self._names:
            value = self._usable(cookies.get(full))
            if value is not None:
                found.append(Credential(kind, value))
        return found

    def login_cookies(self, header: str) -> tuple[str | None, str | None]:
        """The session and access-token cookie values of a ``Cookie`` header.

        What :meth:`extract` of :func:`parse_cookie_header` finds, without building
        Credentials (the per-request fast path): None for a cookie that is absent,
        empty or over the size cap.

        Memoized (a pure function of the header; at most 4,096 headers of at most 1,024
        characters, a few MiB at worst; emptied when full): a repeat costs a dict lookup
        instead of a parse, and returns the same strings, whose hashes the caches'
        lookups then reuse.
        """
        memo = self._login_cookies_memo
        found = memo.get(header)
        if found is None:
            found = self._login_cookies(header)
            if len(header) <= _MEMO_MAX_CHARS:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[header] = found
        return found

    def _login_cookies(self, header: str) -> tuple[str | None, str | None]:
        cookies = parse_cookie_header(header, max_bytes=self.max_value_bytes)
        return self._usable(cookies.get(self._session_name)), self._usable(
            cookies.get(self._access_name)
        )

    def _usable(self, value: str | None) -> str | None:
        cap = self.max_value_bytes
        if not value or len(value) > cap:
            return None
        if not value.isascii() and len(value.encode("utf-8", "surrogatepass")) > cap:
            return None
        return value

    def csrf_token(self, cookies: Mapping[str, str]) -> str | None:
        """The CSRF cookie's value, if any (for forms that echo it; never a credential)."""
        value = cookies.get(self.csrf_cookie_name)
        return value or None

    def _csrf(self, csrf_token: str, max_age: int | None) -> str:
        s = self._settings
        return set_cookie(
            s.csrf_name,
            csrf_token,
            settings=s,
            same_site=s.csrf_same_site,
            http_only=False,
            max_age=max_age,
        )

    def session_cookies(
        self, session_id: str, csrf_token: str, *, max_age: int | None
    ) -> list[str]:
        """``Set-Cookie`` values after a session login: the session and the CSRF cookie."""
        s = self._settings
        return [
            set_cookie(
                s.session_name,
                session_id,
                settings=s,
                same_site=s.session_same_site,
                max_age=max_age,
            ),
            self._csrf(csrf_token, max_age),
        ]

    def token_cookies(
        self,
        access: str,
        refresh: str,
        csrf_token: str,
        *,
        access_max_age: int,
        refresh_max_age: int,
    ) -> list[str]:
        """``Set-Cookie`` values after a token login or refresh: access, refresh, CSRF.

        The CSRF cookie lives as long as the refresh token (the login).
        """
        s = self._settings
        return [
            set_cookie(
                s.access_name,
                access,
                settings=s,
                same_site=s.access_same_site,
                max_age=access_max_age,
            ),
            set_cookie(
                s.refresh_name,
                refresh,
                settings=s,
                same_site=s.refresh_same_site,
                max_age=refresh_max_age,
            ),
            self._csrf(csrf_token, refresh_max_age),
        ]

    def clear_session_cookie(self) -> str:
        """``Set-Cookie`` value that deletes the session cookie only (not the CSRF one)."""
        s = self._settings
        return clear_cookie(s.session_name, settings=s, same_site=s.session_same_site)

    def clear_session_cookies(self) -> list[str]:
        """``Set-Cookie`` values that delete the session and CSRF cookies."""
        s = self._settings
        return [
            clear_cookie(s.session_name, settings=s, same_site=s.session_same_site),
            clear_cookie(s.csrf_name, settings=s, same_site=s.csrf_same_site, http_only=False),
        ]

    def clear_token_cookies(self) -> list[str]:
        """``Set-Cookie`` values that delete the access, refresh and CSRF cookies."""
        s = self._settings
        return [
            clear_cookie(s.access_name, settings=s, same_site=s.access_same_site),
            clear_cookie(s.refresh_name, settings=s, same_site=s.refresh_same_site),
            clear_cookie(s.csrf_name, settings=s, same_site=s.csrf_same_site, http_only=False),
        ]
