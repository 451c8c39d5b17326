"""RequestAuth reads credentials from the raw ASGI headers as browsers and clients send them."""

from __future__ import annotations

import pytest

from gatepass.asgi.middleware import RequestAuth
from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings
from gatepass.transports.cookie import CookieTransport
from gatepass.transports.csrf import CSRFPolicy

pytestmark = pytest.mark.anyio

TRANSPORT = CookieTransport(CookieSettings(secure=False))
SESSION = "A" * 43


def _auth(authenticator: Authenticator, *headers: tuple[bytes, bytes]) -> RequestAuth:
    policy = CSRFPolicy(["https://app.example"])
    return RequestAuth(authenticator, policy, "GET", raw_headers=headers, transport=TRANSPORT)


async def test_first_authorization_header_wins(authenticator: Authenticator) -> None:
    """Of two Authorization headers only the first is read, as in ``headers``."""
    auth = _auth(authenticator, (b"authorization", b"Bearer first"), (b"authorization", b"x"))
    assert [("bearer", "first")] == [(c.kind, c.value) for c in auth.credentials]
    assert "Bearer first" == auth.headers["authorization"]


async def test_cookie_headers_are_joined(authenticator: Authenticator) -> None:
    """Several Cookie headers are one cookie list; the first occurrence of a name wins."""
    auth = _auth(
        authenticator,
        (b"cookie", b"other=1"),
        (b"cookie", f"gp_session={SESSION}; gp_session={'B' * 43}".encode()),
        (b"origin", b"https://app.example"),
    )
    assert [("session_cookie", SESSION)] == [(c.kind, c.value) for c in auth.credentials]
    assert {"cookie", "origin"} == set(auth.headers)


async def test_no_credential_headers(authenticator: Authenticator) -> None:
    """Other headers are not credentials; a non-Bearer scheme is none either."""
    auth = _auth(authenticator, (b"x-token", b"Bearer t"), (b"authorization", b"Basic dTpw"))
    assert [] == auth.credentials
