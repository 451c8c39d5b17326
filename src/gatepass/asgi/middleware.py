"""AuthMiddleware: pure ASGI; marks the scope, and the request's auth is made on first use.

The middleware only marks the scope (``scope["gatepass.auth"]``); nothing is parsed
and no object is made for a route that never asks. :func:`get_request_auth` makes the
request's :class:`RequestAuth` the first time a route asks for it, and
:func:`cached_require`, which the integrations try first, answers a cache hit without
making one. Authentication runs the first time a route asks for the principal, so open
routes pay nothing and a stale cookie never blocks a login. Cookie credentials on unsafe
methods must pass the CSRF rule (token bound to the login, Origin on the allow-list);
Bearer credentials are exempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings
from gatepass.errors import AuthenticationError, CSRFError, GatepassError, PermissionDenied
from gatepass.principal import Principal
from gatepass.transports.base import Credential
from gatepass.transports.bearer import exact_bearer_token, parse_authorization
from gatepass.transports.cookie import CookieTransport, parse_cookie_header
from gatepass.transports.csrf import CSRFPolicy

__all__ = [
    "SCOPE_KEY",
    "STATE_KEY",
    "AuthMiddleware",
    "RequestAuth",
    "attach_request_auth",
    "cached_require",
    "get_request_auth",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the request's :class:`RequestAuth` lives (the middleware, until one is made):
#: read it with :func:`get_request_auth`.
SCOPE_KEY = "gatepass.auth"
#: Where AuthMiddleware looks for the Authenticator in the lifespan state.
STATE_KEY = "gatepass"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: The request headers authentication and the CSRF rule read.
_AUTH_HEADERS = frozenset(
    {b"authorization", b"cookie", b"origin", b"referer", b"sec-fetch-site", b"x-csrf-token"}
)
CSRF_HEADER = "x-csrf-token"
_DEFAULT_TRANSPORT = CookieTransport()


def _cached_principal(
    authenticator: Authenticator, transport: CookieTransport, raw: Iterable[tuple[bytes, bytes]]
) -> Principal | None:
    """What process memory alone says of a request's credentials, else None.

    The per-request fast path, on the raw ASGI headers: a Bearer header of the usual
    form whose token is a verified-token cache hit, or cookies that
    :meth:`Authenticator.cached_principal` answers from its caches. The header values are
    found as :attr:`RequestAuth.headers` finds them (the first ``Authorization``; the
    ``Cookie`` headers joined with ``"; "``).
    """
    authorization: bytes | None = None
    cookie: bytes | None = None
    for name, value in raw:
        if name == b"authorization":
            if authorization is None:
                authorization = value
        elif name == b"cookie":
            cookie = value if cookie is None else cookie + b"; " + value
    if authorization is not None:  # a Bearer header wins over any cookie
        if len(authorization) <= transport.max_value_bytes:
            token = exact_bearer_token(authorization)
            if token is not None:
                return authenticator.cached_principal(token, None, None)
        return None
    if cookie:
        session, access = transport.login_cookies(cookie.decode("latin-1"))
        return authenticator.cached_principal(None, access, session)
    return None


def _permitted(principal: Principal | None, method: str, scopes: Iterable[str]) -> Principal | None:
    """``principal`` if :meth:`RequestAuth.require` returns it with no check left to do.

    That is: no CSRF check is due (a Bearer credential, or a safe method) and every
    scope is granted. None otherwise, or for None.
    """
    if principal is None:
        return None
    if principal.source == "cookie" and method not in _SAFE_METHODS:
        return None
    if scopes and not principal.has_scopes(frozenset(scopes)):
        return None
    return principal


class RequestAuth:
    """The authentication state of one request, computed on first use.

    Nothing is parsed until a route asks: the credentials (Authorization header,
    credential cookies) and the few headers the CSRF rule reads are decoded from the
    raw ASGI headers the first time :attr:`credentials` or :attr:`headers` is used, so
    open routes behind the middleware pay only for this object.
    """

    __slots__ = (
        "_credentials",
        "_error",
        "_headers",
        "_principal",
        "_raw",
        "_transport",
        "authenticator",
        "csrf",
        "method",
    )

    def __init__(
        self,
        authenticator: Authenticator,
        csrf: CSRFPolicy,
        method: str,
        headers: dict[str, str] | None = None,
        credentials: list[Credential] | None = None,
        credential_error: GatepassError | None = None,
        raw_headers: Iterable[tuple[bytes, bytes]] = (),
        transport: CookieTransport | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.csrf = csrf
        self.method = method
        self._headers = headers
        self._credentials = credentials
        self._error = credential_error
        self._raw = raw_headers
        self._transport = transport or _DEFAULT_TRANSPORT
        self._principal: Principal | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The request headers authentication reads (lower-case names)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self._raw:
                # ASGI header names are lower-case bytes: decode only those auth needs.
                if raw_name not in _AUTH_HEADERS:
                    continue
                name = raw_name.decode("latin-1")
                value = raw_value.decode("latin-1")
                # Repeated headers: keep the first, but join cookie headers as browsers do.
                if name == "cookie" and name in headers:
                    headers[name] += "; " + value
                else:
                    headers.setdefault(name, value)
            self._headers = headers
        return self._headers

    @property
    def credentials(self) -> list[Credential]:
        """The request's credentials: Bearer header, session and access-token cookies."""
        if self._credentials is None:
            headers = self.headers
            authorization = headers.get("authorization")
            cookie = headers.get("cookie")
            transport = self._transport
            max_bytes = transport.max_value_bytes
            found: list[Credential] = []
            try:
                bearer = parse_authorization(authorization, max_bytes=max_bytes)
                if bearer is not None:
                    found.append(Credential("bearer", bearer))
            except GatepassError as exc:
                self._error = self._error or exc
            if cookie:
                cookies = parse_cookie_header(cookie, max_bytes=max_bytes)
                found.extend(c for c in transport.extract(cookies) if c.kind != "refresh_cookie")
            self._credentials = found
        return self._credentials

    def only(self, *kinds: str) -> RequestAuth:
        """The same request, authenticated only by credentials of these kinds."""
        creds = [c for c in self.credentials if c.kind in kinds]
        return RequestAuth(self.authenticator, self.csrf, self.method, self.headers, creds)

    def cached_principal(self) -> Principal | None:
        """The principal if it is known or process memory alone can answer, else None.

        Synchronous, the per-request fast path: a Bearer header of the usual form
        whose token is a verified-token cache hit, or cookies that
        :meth:`Authenticator.cached_principal` answers from its caches (read from the
        raw headers; a RequestAuth made from a ``headers`` mapping only takes the slow
        path). None means "await :meth:`principal`", which gives the precise answer or
        error.
        """
        principal = self._principal
        if principal is not None or self._credentials is not None or self._error is not None:
            return principal
        principal = _cached_principal(self.authenticator, self._transport, self._raw)
        self._principal = principal
        return principal

    async def principal(self) -> Principal:
        """The authenticated principal; raises the precise AuthenticationError."""
        return self.cached_principal() or await self._authenticate()

    async def _authenticate(self) -> Principal:
        """The slow path, after :meth:`cached_principal` could not answer."""
        credentials = self.credentials
        if self._error is not None:
            raise self._error
        try:
            principal = await self.authenticator.authenticate(credentials)
        except GatepassError as exc:
            self._error = exc
            raise
        self._principal = principal
        return principal

    async def optional_principal(self) -> Principal | None:
        """The principal, or None when the request carries no valid credential."""
        try:
            return await self.principal()
        except AuthenticationError:
            return None

    def cached_require(self, scopes: Iterable[str] = ()) -> Principal | None:
        """What :meth:`require` would return, if the fast path can say it without awaiting.

        The principal of :meth:`cached_principal` when no CSRF check is due (a Bearer
        credential or a safe method) and it has the scopes; None means "await
        :meth:`require`", which gives the answer or the precise error.
        """
        return _permitted(self.cached_principal(), self.method, scopes)

    async def require(
        self, scopes: Iterable[str] = (), *, csrf_token: str | None = None
    ) -> Principal:
        """The principal, after the CSRF rule (cookie credentials) and required scopes.

        ``csrf_token`` is a form field's token, for server-rendered forms; otherwise
        the ``X-CSRF-Token`` header is used.
        """
        principal = self.cached_principal() or await self._authenticate()
        if principal.source == "cookie" and self.method not in _SAFE_METHODS:
            token = csrf_token if csrf_token is not None else self.headers.get(CSRF_HEADER)
            self.csrf.check_origin(self.method, self.headers)
            if not self.authenticator.check_csrf(principal, token):
                raise CSRFError("missing or wrong CSRF token", reason="token")
        if scopes:
            required = frozenset(scopes)
            if required and not principal.has_scopes(required):
                raise PermissionDenied("insufficient scope", required_scopes=required)
        return principal


def get_request_auth(scope: Scope) -> RequestAuth:
    """The request's :class:`RequestAuth`, made on first use (the same one afterwards).

    Raises:
        RuntimeError: no AuthMiddleware (nor the auth server) handled this scope.
    """
    auth = scope.get(SCOPE_KEY)
    if isinstance(auth, RequestAuth):
        return auth
    if isinstance(auth, AuthMiddleware):
        made = scope[SCOPE_KEY] = auth.request_auth(scope)
        return made
    raise RuntimeError("gatepass AuthMiddleware is not installed on this app")


def cached_require(scope: Scope, scopes: Iterable[str] = ()) -> Principal | None:
    """What ``await get_request_auth(scope).require(scopes)`` would return, if memory can say.

    The per-request fast path the integrations try first: a cache hit that needs no
    CSRF check and has the scopes. Before anything asked for the request's RequestAuth
    it answers from the middleware's caches without making one. None means "await
    :meth:`RequestAuth.require`", which gives the answer or the precise error: pass
    ``scopes`` as a collection, not an iterator, since both read it.
    """
    auth = scope.get(SCOPE_KEY)
    if isinstance(auth, AuthMiddleware):
        authenticator = auth.authenticator or auth._from_lifespan(scope)
        principal = _cached_principal(authenticator, auth.transport, scope.get("headers", ()))
        return _permitted(principal, scope.get("method", "GET"), scopes)
    if isinstance(auth, RequestAuth):
        return auth.cached_require(scopes)
    return None


def attach_request_auth(
    scope: Scope,
    authenticator: Authenticator,
    transport: CookieTransport,
    csrf: CSRFPolicy,
) -> RequestAuth:
    """Put a lazy RequestAuth for this HTTP scope in it (nothing is parsed yet)."""
    auth = scope[SCOPE_KEY] = _new_request_auth(scope, authenticator, transport, csrf)
    return auth


def _new_request_auth(
    scope: Scope, authenticator: Authenticator, transport: CookieTransport, csrf: CSRFPolicy
) -> RequestAuth:
    # Positional: a keyword call costs more than the rest of this (once per request).
    return RequestAuth(
        authenticator, csrf, scope.get("method", "GET"), None, None, None,
        scope.get("headers", ()), transport,
    )  # fmt: skip


class AuthMiddleware:
    """Pure ASGI middleware: credentials in, ``scope["gatepass.auth"]`` out.

    Args:
        app: the wrapped ASGI app.
        authenticator: the one Authenticator; None to take it from the lifespan state
            (``yield {"gatepass": authenticator}`` in the app's lifespan), which is how
            an app whose keys load asynchronously at startup wires it.
        allowed_origins: origins allowed on cookie-authenticated unsafe requests
            (required: there is no safe default for an embedded app).
        cookies: cookie names and flags (``secure=False`` only in development).
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator | None = None,
        *,
        allowed_origins: Iterable[str],
        cookies: CookieSettings | None = None,
    ) -> None:
        if authenticator is not None and not isinstance(authenticator, Authenticator):
            raise TypeError("AuthMiddleware's authenticator must be an Authenticator")
        self.app = app
        self.authenticator = authenticator
        self.transport = CookieTransport(cookies or CookieSettings())
        self.csrf = CSRFPolicy(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            if self.authenticator is None:
                self._from_lifespan(scope)  # a misconfigured app fails on every request
            scope[SCOPE_KEY] = self  # get_request_auth makes the RequestAuth when asked
        await self.app(scope, receive, send)

    def request_auth(self, scope: Scope) -> RequestAuth:
        """A new :class:`RequestAuth` for this scope (nothing is parsed yet)."""
        authenticator = self.authenticator or self._from_lifespan(scope)
        return _new_request_auth(scope, authenticator, self.transport, self.csrf)

    @staticmethod
    def _from_lifespan(scope: Scope) -> Authenticator:
        """The Authenticator the app's lifespan put in its state (``"gatepass"``)."""
        authenticator = scope.get("state", {}).get(STATE_KEY)
        if not isinstance(authenticator, Authenticator):
            raise RuntimeError(
                "AuthMiddleware needs an Authenticator: pass one, or yield "
                '{"gatepass": authenticator} from the app lifespan'
            )
        return authenticator
