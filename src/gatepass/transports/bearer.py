"""The ``Authorization: Bearer`` transport (RFC 6750 section 2.1) and its challenges.

Only the request header is ever read: a token in a query string (``?access_token=``)
or a form body is never a credential here (RFC 6750 section 2.3 is discouraged and
not implemented; SECURITY.md S-04). Bearer requests need no CSRF token, since a
browser never attaches the header by itself; that exemption is applied by the caller.

Grammar accepted (RFC 7235 section 2.1, RFC 6750 section 2.1)::

    credentials = auth-scheme 1*SP token68        ; scheme "Bearer", any case
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

Leading and trailing spaces or tabs around the whole value are ignored (they are not
part of an HTTP field value).
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

from gatepass.errors import ConfigurationError, MalformedToken, TokenTooLarge

__all__ = ["BearerError", "challenge", "exact_bearer_token", "parse_authorization"]

#: The ``error`` codes of RFC 6750 section 3.1.
BearerError: TypeAlias = Literal["invalid_request", "invalid_token", "insufficient_scope"]

_SCHEME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REST = re.compile(r" +([A-Za-z0-9\-._~+/]+=*)")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: The token68 characters before its "=" padding, for a fast check with bytes.translate.
_TOKEN68_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
# RFC 6750 section 3: error and error_description characters; scope tokens.
_NQSCHAR = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
# quoted-string qdtext / quoted-pair material: visible ASCII, space and tab.
_QDTEXT = re.compile(r"[\t\x20-\x7e]*")
_ERRORS = frozenset({"invalid_request", "invalid_token", "insufficient_scope"})


#: exact_bearer_token's memo: a header's last _KEY_BYTES bytes -> (the header, its token).
_EXACT: dict[bytes, tuple[bytes, str]] = {}
_EXACT_SIZE = 4096
_KEY_BYTES = 16


def exact_bearer_token(value: bytes) -> str | None:
    """The token of a raw ``Authorization`` value of the exact form ``Bearer <token68>``.

    The per-request fast path, on the header's bytes as ASGI gives them: None for
    anything else (another scheme or its case, extra spaces, a malformed token,
    non-ASCII), where :func:`parse_authorization` gives the precise answer; never
    raises, and equal to ``parse_authorization(value.decode("latin-1"))`` whenever it
    returns a token. The caller checks the size cap first.

    Memoized (a pure function; at most 4,096 headers, one per active client, each within
    the caller's size cap; emptied when full): a client sends the same header on every
    request while its token lives, so a repeat costs a dict lookup and a comparison
    with the remembered header instead of a decode and a scan of every byte, and the
    token returned is the same string object each time (its hash, used by the
    verified-token cache, is kept). The memo is keyed by the header's last 16 bytes (of
    a JWS, 96 bits of its signature): hashing them costs a fraction of hashing a whole
    header, which ASGI gives as a new object on every request, so a lookup by the whole
    header would hash it in full every time. The full header must still be equal: a
    header that ends like a remembered one is just a miss.
    """
    key = value[-_KEY_BYTES:]
    found = _EXACT.get(key)
    if found is not None and found[0] == value:
        return found[1]
    if not value.startswith(b"Bearer "):
        return None
    raw = value[7:]
    unpadded = raw.rstrip(b"=")  # token68: one or more characters, then "=" padding only
    if not unpadded or unpadded.translate(None, _TOKEN68_CHARS):
        return None
    token = raw.decode("ascii")
    if len(_EXACT) >= _EXACT_SIZE:
        _EXACT.clear()
    _EXACT[key] = (value, token)
    return token


def parse_authorization(value: str | None, *, max_bytes: int = 8192) -> str | None:
    """Extract the bearer token from an ``Authorization`` header value.

    Args:
        value: the header value, or ``None`` when the request has no such header.
        max_bytes: the largest value accepted (UTF-8 bytes), checked before parsing.

    Returns:
        The token, or ``None`` when there is no header or its scheme is not
        ``Bearer`` (``Basic``, ``Digest``, empty...): no bearer credential.

    Raises:
        TokenTooLarge: the value is longer than ``max_bytes``.
        MalformedToken: the scheme is ``Bearer`` but the rest is not exactly one
            token68 after one or more spaces (missing token, a tab, a comma, a
            second token or parameter, characters outside token68).
    """
    if value is None:
        return None
    if len(value) > max_bytes or (
        not value.isascii() and len(value.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        raise TokenTooLarge("authorization header exceeds the size limit")
    if value.isascii():  # the usual form, without the general parse below
        token = exact_bearer_token(value.encode("ascii"))
        if token is not None:
            return token
    value = value.strip(" \t")
    scheme = _SCHEME.match(value)
    if scheme is None or scheme.group().lower() != "bearer":
        return None
    rest = _REST.fullmatch(value, scheme.end())
    if rest is None:
        raise MalformedToken("authorization header is not 'Bearer <token68>'")
    return rest.group(1)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(
    error: BearerError | None = None,
    *,
    realm: str | None = None,
    description: str | None = None,
    scope: str | None = None,
) -> str:
    """Build a ``WWW-Authenticate`` value for a bearer-protected resource.

    ``challenge()`` is ``Bearer`` (no credential was sent); ``challenge("invalid_token")``
    is ``Bearer error="invalid_token"``; ``challenge("insufficient_scope", scope="a b")``
    is ``Bearer error="insufficient_scope", scope="a b"``. Parameters come in the order
    realm, error, error_description, scope (RFC 6750 section 3).

    Never pass attacker input: these values are fixed by the application. They are
    checked against RFC 6750's character sets, so no value can break the header.

    Raises:
        ConfigurationError: an unknown error code, or a value with characters RFC 6750
            (or a quoted-string, for ``realm``) does not allow.
    """
    params: list[str] = []
    if realm is not None:
        if not _QDTEXT.fullmatch(realm):
            raise ConfigurationError("realm has characters not allowed in a header")
        params.append(f"realm={_quote(realm)}")
    if error is not None:
        if error not in _ERRORS:
            raise ConfigurationError(f"unknown bearer error code {error!r}")
        params.append(f'error="{error}"')
    if description is not None:
        if not _NQSCHAR.fullmatch(description):
            raise ConfigurationError("error_description has characters RFC 6750 forbids")
        params.append(f'error_description="{description}"')
    if scope is not None:
        if not _SCOPE.fullmatch(scope):
            raise ConfigurationError("scope is not a space-separated list of scope tokens")
        params.append(f'scope="{scope}"')
    if not params:
        return "Bearer"
    return "Bearer " + ", ".join(params)
