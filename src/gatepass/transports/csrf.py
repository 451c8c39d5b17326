"""CSRF protection for cookie-authenticated requests (API.md "CSRF rule").

Tokens are HMAC tokens bound to a per-login secret (OWASP's "signed double-submit" /
HMAC CSRF token, SECURITY.md CSRF-01..03): every login gets a fresh secret
(:func:`new_csrf_secret`, kept server-side with the session or token family), and
:func:`make_csrf_token` mints ``base64url(r) "." base64url(HMAC-SHA256(secret, r))`` for
16 random bytes ``r``. Any token minted for the login's secret verifies; a token of
another login, a previous login, or one an attacker tossed into a cookie does not.

:class:`CSRFPolicy` is the request check, in this order:

1. safe methods (GET, HEAD, OPTIONS, TRACE) pass: they must never change state;
2. ``Sec-Fetch-Site: cross-site`` fails (reason ``"fetch-site"``);
3. an ``Origin`` header must be exactly one allowed origin (scheme, host and port;
   ``null`` fails); without ``Origin``, a ``Referer``'s origin must be allowed
   (reason ``"origin"``); with neither, only the token decides unless
   ``require_origin=True`` (SECURITY.md S-07's stricter policy);
4. the token (``X-CSRF-Token`` header or ``csrf_token`` form field, fetched by the
   caller) must verify against the login's secret (reason ``"token"``).

Requests authenticated by an ``Authorization: Bearer`` header are exempt, since
browsers never attach that header by themselves; deciding that is the caller's job
(the ASGI middleware). A request that carries a credential cookie is checked even
when it also has a Bearer header (SECURITY.md CSRF-09, S-06f).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.errors import ConfigurationError, CSRFError

__all__ = [
    "CSRF_HEADER",
    "SAFE_METHODS",
    "CSRFPolicy",
    "make_csrf_token",
    "new_csrf_secret",
    "origin_of",
    "verify_csrf_token",
]

#: The request header carrying the token (lower-case, as in a header mapping).
CSRF_HEADER = "x-csrf-token"
#: Methods that never need a CSRF check (and must never change state).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_NONCE_BYTES = 16
_MAX_TOKEN_CHARS = 256
_CONTEXT = b"gatepass-csrf-v1\x00"  # domain separation from any other use of the secret
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9_.\-]*[a-z0-9.])?")
_IPV6 = re.compile(r"[0-9a-f:.]+")
_URL_CHARS = re.compile(r"[\x21-\x7e]+")


def new_csrf_secret() -> str:
    """A fresh per-login CSRF secret: 32 bytes from the OS CSPRNG, as 64 hex chars."""
    return secrets.token_hex(32)


def _mac(secret: str, nonce: bytes) -> bytes:
    key = secret.encode("utf-8", "surrogatepass")
    return hmac.new(key, _CONTEXT + nonce, hashlib.sha256).digest()


def make_csrf_token(secret: str) -> str:
    """Mint a CSRF token for a login's secret; a different token on every call.

    Raises:
        ConfigurationError: the secret is empty.
    """
    if not secret:
        raise ConfigurationError("a CSRF secret must not be empty")
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return b64url_encode(nonce) + "." + b64url_encode(_mac(secret, nonce))


def verify_csrf_token(secret: str, token: str | None) -> bool:
    """Whether ``token`` was minted for ``secret`` (constant-time MAC comparison).

    ``False`` for ``None``, an empty secret, an oversized or malformed token; never raises.
    """
    if not secret or not token or len(token) > _MAX_TOKEN_CHARS:
        return False
    nonce_text, sep, mac_text = token.partition(".")
    if not sep:
        return False
    try:
        nonce = b64url_decode(nonce_text)
        mac = b64url_decode(mac_text)
    except ValueError:
        return False
    if len(nonce) != _NONCE_BYTES:
        return False
    return hmac.compare_digest(_mac(secret, nonce), mac)


def origin_of(url: str) -> str | None:
    """The serialised origin (``scheme://host[:port]``) of an http(s) URL, or ``None``.

    Scheme and host are lower-cased and a default port is dropped, so
    ``HTTPS://App.Example:443/x`` gives ``https://app.example``. ``None`` for
    anything else: ``null``, other schemes, no host, a bad port, user info
    (``https://a@b``), whitespace, control or non-ASCII characters, backslashes.
    """
    if not _URL_CHARS.fullmatch(url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc:
        return None
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal; urlsplit removed the brackets
        if not _IPV6.fullmatch(host):
            return None
        host = f"[{host}]"
    elif not _HOST.fullmatch(host):
        return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _origin_header(value: str) -> str | None:
    """A strict ``Origin`` header value: an origin, with no path, query or fragment."""
    origin = origin_of(value)
    if origin is None:
        return None
    parts = urlsplit(value)
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        return None
    return origin


class CSRFPolicy:
    """The CSRF check for one request authenticated by a cookie.

    Args:
        allowed_origins: origins allowed to send unsafe requests (API.md default: the
            server's own). Each is normalised with :func:`origin_of`; a trailing ``/``
            is tolerated, any other path is a configuration error.
        require_origin: also fail (reason ``"origin"``) an unsafe request that has
            neither ``Origin`` nor ``Referer``. Off by default, so that non-browser
            clients holding a cookie work with the token alone.

    Raises:
        ConfigurationError: no allowed origin, or one that is not an http(s) origin.
    """

    def __init__(self, allowed_origins: Iterable[str], *, require_origin: bool = False) -> None:
        origins: set[str] = set()
        for raw in allowed_origins:
            origin = _origin_header(raw.removesuffix("/"))
            if origin is None:
                raise ConfigurationError(f"allowed origin {raw!r} is not an http(s) origin")
            origins.add(origin)
        if not origins:
            raise ConfigurationError("CSRFPolicy needs at least one allowed origin")
        self._origins = frozenset(origins)
        self._require_origin = require_origin

    @property
    def allowed_origins(self) -> frozenset[str]:
        """The normalised allowed origins."""
        return self._origins

    def origin_allowed(self, origin: str) -> bool:
        """Whether an ``Origin`` header value is exactly one of the allowed origins."""
        normalised = _origin_header(origin.strip(" \t"))
        return normalised is not None and normalised in self._origins

    def check_origin(self, method: str, headers: Mapping[str, str]) -> None:
        """Steps 1-3 of the check (method, fetch metadata, origin), without the token.

        For callers that verify the token themselves (for example against a stored
        hash); :meth:`check` runs this and then the token step.

        Raises:
            CSRFError: with ``reason`` ``"fetch-site"`` or ``"origin"``.
        """
        if method.upper() in SAFE_METHODS:
            return
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site.strip(" \t").lower() == "cross-site":
            raise CSRFError("cross-site request (Sec-Fetch-Site)", reason="fetch-site")
        origin = headers.get("origin")
        if origin is not None:
            if not self.origin_allowed(origin):
                raise CSRFError("Origin is not on the allow-list", reason="origin")
            return
        referer = headers.get("referer")
        if referer is not None:
            referer_origin = origin_of(referer.strip(" \t"))
            if referer_origin is None or referer_origin not in self._origins:
                raise CSRFError("Referer is not on the allow-list", reason="origin")
        elif self._require_origin:
            raise CSRFError("neither Origin nor Referer present", reason="origin")

    def check(
        self,
        method: str,
        headers: Mapping[str, str],
        *,
        secret: str | None,
        token: str | None,
    ) -> None:
        """Check one request; return quietly if it may proceed.

        Args:
            method: the HTTP method (any case).
            headers: request headers by lower-case name.
            secret: the CSRF secret of the login the request's cookie belongs to
                (``None``: no login, so an unsafe request fails).
            token: the token the request carries (``X-CSRF-Token`` header or the
                ``csrf_token`` form field), or ``None``.

        Raises:
            CSRFError: with ``reason`` ``"fetch-site"``, ``"origin"`` or ``"token"``.
        """
        if method.upper() in SAFE_METHODS:
            return
        self.check_origin(method, headers)
        if secret is None or not verify_csrf_token(secret, token):
            raise CSRFError("missing or invalid CSRF token", reason="token")
