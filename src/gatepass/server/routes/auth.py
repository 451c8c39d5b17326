"""The JSON API of API.md: register, both login columns, refresh, logout, me, sessions.

Every route raises :class:`~gatepass.errors.GatepassError` subclasses for failures;
the app's error handler turns them into ``{"error", "detail"}`` responses (status
codes live only in :mod:`gatepass.asgi.errors`). Every response of these routes has
``Cache-Control: no-store``. Bodies are read by :func:`gatepass.server.http.read_json`
(JSON only, 64 KiB). The client address is the connection's (ASGI ``client``).
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatepass._utils import constant_time_equals, hash_token
from gatepass.asgi.middleware import RequestAuth, get_request_auth
from gatepass.authenticator import TokenPair
from gatepass.errors import (
    AuthenticationError,
    CSRFError,
    InvalidCredentials,
    MissingCredential,
    NotFound,
    RateLimited,
)
from gatepass.principal import Principal
from gatepass.server import reauth
from gatepass.server.context import ServerContext
from gatepass.server.http import (
    client_ip,
    empty_response,
    json_response,
    optional_enum,
    optional_str,
    read_json,
    require_str,
    user_agent,
)
from gatepass.server.routes.wellknown import record_login
from gatepass.stores.base import UserRecord
from gatepass.tokens.refresh import parse_refresh_token
from gatepass.transports.cookie import parse_cookie_header
from gatepass.transports.csrf import CSRF_HEADER

__all__ = ["routes"]

MAX_EMAIL = 254
MAX_PASSWORD = 1024
MAX_TOKEN = 8192
MAX_SCOPE = 512


def _ctx(request: Request) -> ServerContext:
    return cast(ServerContext, request.state.gatepass)


def _user_json(user: UserRecord) -> dict[str, object]:
    return {"id": user.id, "email": user.email}


async def _user(ctx: ServerContext, user_id: str) -> UserRecord:
    user = await ctx.store.get_user(user_id)
    if user is None:
        raise AuthenticationError("the credential's user no longer exists")
    return user


def _refresh_cookie(ctx: ServerContext, request: Request) -> str | None:
    cookies = parse_cookie_header(
        request.headers.get("cookie"), max_bytes=ctx.cookies.max_value_bytes
    )
    for credential in ctx.cookie_transport.extract(cookies):
        if credential.kind == "refresh_cookie":
            return credential.value
    return None


def _session_cookie(request: Request) -> str | None:
    """The session id the request's cookie carries, if any."""
    for credential in get_request_auth(request.scope).credentials:
        if credential.kind == "session_cookie":
            return credential.value
    return None


def _only(request: Request, *kinds: str) -> RequestAuth:
    """The request's auth restricted to some credential kinds (e.g. the session cookie)."""
    return get_request_auth(request.scope).only(*kinds)


# -- register and login -----------------------------------------------------------


async def register(request: Request) -> Response:
    """POST /auth/register: 201 ``{"id","email","created_at"}``."""
    body = await read_json(request)
    email = require_str(body, "email", max_len=MAX_EMAIL)
    password = require_str(body, "password", max_len=MAX_PASSWORD, text=False)
    user = await _ctx(request).authenticator.register(email, password)
    data = {"id": user.id, "email": user.email, "created_at": int(user.created_at)}
    return json_response(data, 201, no_store=True)


async def _login(request: Request, body: dict[str, object], method: str) -> UserRecord:
    """Check the throttle, then the password; count the outcome."""
    ctx = _ctx(request)
    email = require_str(body, "email", max_len=MAX_TOKEN)
    password = require_str(body, "password", max_len=None, text=False)
    ip, agent = client_ip(request), user_agent(request)
    account = email.strip().lower()
    try:
        async with ctx.throttle.attempt(account, ip) as attempt:
            try:
                user = await ctx.authenticator.verify_password(
                    email, password, ip=ip, user_agent=agent
                )
            except InvalidCredentials:
                attempt.failed()
                record_login(request, method, "failed")
                raise
            attempt.succeeded()
    except RateLimited:  # only the throttle raises it
        await ctx.authenticator.audit(
            "login", "failed", ip=ip, user_agent=agent, detail=RateLimited.code
        )
        record_login(request, method, "throttled")
        raise
    record_login(request, method, "ok")
    return user


async def session_login(request: Request) -> Response:
    """POST /auth/session/login: a fresh session; any presented session id is ended."""
    ctx = _ctx(request)
    body = await read_json(request)
    user = await _login(request, body, "session")
    presented = [
        c.value for c in get_request_auth(request.scope).credentials if c.kind == "session_cookie"
    ]
    login = await ctx.authenticator.login_session(
        user,
        replaces=presented[0] if presented else None,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    cookies = ctx.cookie_transport.session_cookies(login.session_id, login.csrf_token, max_age=None)
    data = {
        "user": _user_json(user),
        "session_id": login.sid,
        "csrf_token": login.csrf_token,
        "expires_at": int(login.session.record.deadline()),
    }
    return json_response(data, no_store=True, cookies=cookies)


def _token_response(ctx: ServerContext, pair: TokenPair, user: UserRecord | None) -> Response:
    if user is None or pair.csrf_token is None:
        data: dict[str, object] = {
            "access_token": pair.access_token,
            "token_type": pair.token_type,
            "expires_in": pair.expires_in,
            "refresh_token": pair.refresh_token,
            "refresh_expires_in": pair.refresh_expires_in,
        }
        return json_response(data, no_store=True)
    cookies = ctx.cookie_transport.token_cookies(
        pair.access_token,
        pair.refresh_token,
        pair.csrf_token,
        access_max_age=pair.expires_in,
        refresh_max_age=pair.refresh_expires_in,
    )
    data = {"user": _user_json(user), "csrf_token": pair.csrf_token, "expires_in": pair.expires_in}
    return json_response(data, no_store=True, cookies=cookies)


async def token_login(request: Request) -> Response:
    """POST /auth/token/login: a new token family (Bearer body or cookies)."""
    ctx = _ctx(request)
    body = await read_json(request)
    transport = optional_enum(body, "transport", ("bearer", "cookie"), "bearer")
    scope = optional_str(body, "scope", max_len=MAX_SCOPE) or ""
    user = await _login(request, body, "token")
    pair = await ctx.authenticator.login_tokens(
        user,
        transport="cookie" if transport == "cookie" else "bearer",
        scope=scope,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    return _token_response(ctx, pair, user if transport == "cookie" else None)


# -- refresh ------------------------------------------------------------------------


async def token_refresh(request: Request) -> Response:
    """POST /auth/token/refresh: rotate; body ``{"refresh_token"}`` or the refresh cookie."""
    ctx = _ctx(request)
    body = await read_json(request, optional=True)
    token = optional_str(body, "refresh_token", max_len=MAX_TOKEN)
    if token is not None:
        pair = await ctx.authenticator.refresh(
            token, ip=client_ip(request), user_agent=user_agent(request)
        )
        return _token_response(ctx, pair, None)
    cookie = _refresh_cookie(ctx, request)
    if cookie is None:
        raise MissingCredential("no refresh token in the body or a cookie")
    ctx.csrf.check_origin(request.method, request.headers)
    pair = await ctx.authenticator.refresh(
        cookie,
        from_cookie=True,
        csrf_token=request.headers.get(CSRF_HEADER),
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    return _token_response(ctx, pair, await _user(ctx, pair.user_id))


# -- logout -------------------------------------------------------------------------


async def session_logout(request: Request) -> Response:
    """POST /auth/session/logout: end the cookie's session (CSRF checked); clear cookies."""
    ctx = _ctx(request)
    await read_json(request, optional=True)
    principal = await _only(request, "session_cookie").require()
    await ctx.authenticator.logout(principal, ip=client_ip(request), user_agent=user_agent(request))
    return empty_response(cookies=ctx.cookie_transport.clear_session_cookies())


async def _revoke_by_refresh(
    ctx: ServerContext,
    token: str,
    user_id: str | None,
    *,
    csrf_token: str | None = None,
    from_cookie: bool = False,
    ip: str | None = None,
    agent: str | None = None,
) -> bool:
    """Revoke the family of a refresh token its holder presents; False if it is not one.

    The secret must be the family's current or just-spent one (the family id alone is
    public). A cookie needs the login's CSRF token, as any cookie credential does.
    """
    try:
        family_id, secret = parse_refresh_token(token)
    except AuthenticationError:
        return False
    family = await ctx.authenticator.refresh_tokens.get(family_id)
    if family is None or (user_id is not None and family.user_id != user_id):
        return False
    digest = hash_token(secret)
    known = [h for h in (family.current_hash, family.previous_hash) if h is not None]
    if not any(constant_time_equals(digest, h) for h in known):
        return False
    if from_cookie and (
        csrf_token is None
        or family.csrf_hash is None
        or not constant_time_equals(hash_token(csrf_token), family.csrf_hash)
    ):
        raise CSRFError("refresh cookie without the login's CSRF token")
    await ctx.authenticator.refresh_tokens.revoke(family_id)
    await ctx.authenticator.audit(
        "logout", "ok", user_id=family.user_id, sid=family_id, ip=ip, user_agent=agent
    )
    return True


async def token_logout(request: Request) -> Response:
    """POST /auth/token/logout: revoke this login's whole token family; clear cookies.

    The credential is the access token (Bearer, or cookie + CSRF). When the access
    token has expired, the refresh token (body, or cookie + CSRF) still logs out.
    """
    ctx = _ctx(request)
    body = await read_json(request, optional=True)
    refresh = optional_str(body, "refresh_token", max_len=MAX_TOKEN)
    clear = ctx.cookie_transport.clear_token_cookies()
    ip, agent = client_ip(request), user_agent(request)
    auth = get_request_auth(request.scope)
    principal: Principal | None = None
    error: AuthenticationError = MissingCredential("no access token")
    try:
        candidate = await auth.principal()
    except AuthenticationError as exc:
        error = exc
    else:
        if candidate.method == "jwt":
            principal = await auth.require()
    if principal is not None:
        await ctx.authenticator.logout(principal, ip=ip, user_agent=agent)
        if refresh is not None:
            await _revoke_by_refresh(ctx, refresh, principal.user_id, ip=ip, agent=agent)
        return empty_response(cookies=clear)
    if refresh is not None and await _revoke_by_refresh(ctx, refresh, None, ip=ip, agent=agent):
        return empty_response(cookies=clear)
    cookie = _refresh_cookie(ctx, request)
    if cookie is not None:
        ctx.csrf.check_origin(request.method, request.headers)
        csrf = request.headers.get(CSRF_HEADER)
        if await _revoke_by_refresh(
            ctx, cookie, None, csrf_token=csrf, from_cookie=True, ip=ip, agent=agent
        ):
            return empty_response(cookies=clear)
    raise error


async def logout_all(request: Request) -> Response:
    """POST /auth/logout-all: every session and token family of the user, this one too."""
    ctx = _ctx(request)
    body = await read_json(request, optional=True)
    password = optional_str(body, "password", max_len=None, text=False)
    principal = await get_request_auth(request.scope).require()
    ip, agent = client_ip(request), user_agent(request)
    await reauth.confirm(ctx, principal, password, ip=ip, user_agent=agent)
    await ctx.authenticator.logout_all(principal.user_id, ip=ip, user_agent=agent)
    cookies = [
        *ctx.cookie_transport.clear_session_cookies(),
        *ctx.cookie_transport.clear_token_cookies()[:2],
    ]
    return empty_response(cookies=cookies)


async def change_password(request: Request) -> Response:
    """POST /auth/password: a new password; every other login of the user is ended."""
    ctx = _ctx(request)
    body = await read_json(request)
    current = require_str(body, "current_password", max_len=None, text=False)
    new = require_str(body, "new_password", max_len=None, text=False)
    principal = await get_request_auth(request.scope).require()
    await reauth.change_password(
        ctx, principal, current, new, ip=client_ip(request), user_agent=user_agent(request)
    )
    cookies = await reauth.new_session_id(ctx, principal, _session_cookie(request))
    return empty_response(cookies=cookies)


# -- me, sessions, exchange ---------------------------------------------------------


async def me(request: Request) -> Response:
    """GET /auth/me: the user and how this request authenticated."""
    principal = await get_request_auth(request.scope).require()
    user = await _user(_ctx(request), principal.user_id)
    data = {
        **_user_json(user),
        "auth": {
            "method": principal.method,
            "sid": principal.sid,
            "expires_at": int(principal.expires_at),
            "scopes": sorted(principal.scopes),
        },
    }
    return json_response(data, no_store=True)


async def list_sessions(request: Request) -> Response:
    """GET /auth/sessions: every live login of the user, the requesting one marked."""
    principal = await get_request_auth(request.scope).require()
    logins = await _ctx(request).authenticator.list_logins(principal.user_id)
    sessions = [
        {
            "id": login.id,
            "method": login.method,
            "created_at": int(login.created_at),
            "last_seen_at": int(login.last_seen_at),
            "expires_at": int(login.expires_at),
            "ip": login.ip,
            "user_agent": login.user_agent,
            "current": login.id == principal.sid,
        }
        for login in logins
    ]
    return json_response({"sessions": sessions}, no_store=True)


async def revoke_session(request: Request) -> Response:
    """DELETE /auth/sessions/{id}: revoke one of the user's logins; 404 if not theirs.

    Another login than the requesting one needs re-authentication outside the window.
    """
    ctx = _ctx(request)
    body = await read_json(request, optional=True)
    password = optional_str(body, "password", max_len=None, text=False)
    principal = await get_request_auth(request.scope).require()
    sid = str(request.path_params["id"])
    if not 0 < len(sid) <= 64:
        raise NotFound("no such login")
    ip, agent = client_ip(request), user_agent(request)
    reauthenticated = False
    if sid != principal.sid:
        reauthenticated = await reauth.confirm(ctx, principal, password, ip=ip, user_agent=agent)
    await ctx.authenticator.revoke_login(principal.user_id, sid, ip=ip, user_agent=agent)
    cookies: list[str] = []
    if reauthenticated:
        cookies = await reauth.new_session_id(ctx, principal, _session_cookie(request))
    if sid == principal.sid and principal.source == "cookie":
        transport = ctx.cookie_transport
        cookies = (
            transport.clear_session_cookies()
            if principal.method == "session"
            else transport.clear_token_cookies()
        )
    return empty_response(cookies=cookies)


async def token_exchange(request: Request) -> Response:
    """POST /auth/token/exchange: a short-lived JWT bound to the cookie's session."""
    ctx = _ctx(request)
    body = await read_json(request, optional=True)
    audience = optional_str(body, "audience", max_len=MAX_SCOPE)
    scope = optional_str(body, "scope", max_len=MAX_SCOPE) or ""
    principal = await _only(request, "session_cookie").require()
    issued = await ctx.authenticator.exchange(
        principal,
        audience=audience or None,
        scope=scope,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    iat = issued.claims.get("iat")
    expires_in = max(0, issued.expires_at - (iat if isinstance(iat, int) else issued.expires_at))
    data = {"access_token": issued.token, "token_type": "Bearer", "expires_in": expires_in}
    return json_response(data, no_store=True)


def routes() -> list[BaseRoute]:
    """The JSON API routes of API.md."""
    return [
        Route("/auth/register", register, methods=["POST"]),
        Route("/auth/session/login", session_login, methods=["POST"]),
        Route("/auth/session/logout", session_logout, methods=["POST"]),
        Route("/auth/token/login", token_login, methods=["POST"]),
        Route("/auth/token/refresh", token_refresh, methods=["POST"]),
        Route("/auth/token/logout", token_logout, methods=["POST"]),
        Route("/auth/logout-all", logout_all, methods=["POST"]),
        Route("/auth/password", change_password, methods=["POST"]),
        Route("/auth/me", me, methods=["GET"]),
        Route("/auth/sessions", list_sessions, methods=["GET"]),
        Route("/auth/sessions/{id}", revoke_session, methods=["DELETE"]),
        Route("/auth/token/exchange", token_exchange, methods=["POST"]),
    ]
