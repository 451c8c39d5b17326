"""Read a JWK Set from a file or from an ``http(s)`` URL, with the standard library only.

The fetch is bounded: ``http`` and ``https`` only (also across redirects), a 5-second
timeout and a 1 MiB cap on the body. httpx (the ``remote`` extra) is not needed.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import IO, Final
from urllib.parse import urlsplit

from gatepass.cli._common import read_text_file
from gatepass.errors import ConfigurationError, InvalidKey

__all__ = ["MAX_JWKS_BYTES", "TIMEOUT_SECONDS", "fetch_jwks", "read_jwks_source"]

#: Seconds to wait for the JWKS server (connect and each read).
TIMEOUT_SECONDS: Final = 5.0
#: Largest JWKS body accepted.
MAX_JWKS_BYTES: Final = 1 << 20
_SCHEMES: Final = frozenset({"http", "https"})


class _SameSchemesRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to ``http``/``https`` URLs."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in _SCHEMES:
            raise InvalidKey("the JWKS URL redirects to a scheme other than http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def read_jwks_source(source: str) -> str:
    """The JWKS text of a file path or an ``http(s)://`` URL.

    Raises:
        ConfigurationError: a URL with another scheme, or an unreadable file.
        InvalidKey: the URL could not be fetched, or the body is too large / not UTF-8.
    """
    if "://" in source:
        return fetch_jwks(source)
    return read_text_file(source, what="JWKS")


def fetch_jwks(url: str) -> str:
    """GET ``url`` and return its body as text.

    Raises:
        ConfigurationError: if the scheme is not ``http`` or ``https``.
        InvalidKey: on any network or HTTP failure, a body over 1 MiB or not UTF-8.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError("a JWKS URL must use http or https")
    opener = urllib.request.build_opener(_SameSchemesRedirect())
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, headers={"Accept": "application/json", "User-Agent": "gatepass-cli"}
    )
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            body: bytes = response.read(MAX_JWKS_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise InvalidKey(f"the JWKS URL answered HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise InvalidKey(f"cannot fetch the JWKS: {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise InvalidKey(f"cannot fetch the JWKS: {type(exc).__name__}") from exc
    if len(body) > MAX_JWKS_BYTES:
        raise InvalidKey(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidKey("the JWKS is not UTF-8 text") from exc
