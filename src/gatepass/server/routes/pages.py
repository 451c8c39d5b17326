"""Server-rendered pages (API.md "Pages"): the session column, and the /app demo.

Pages are the *session* column: they read only the session cookie, so a token-cookie
login made on ``/app`` never signs a user in to ``/account``. Every form carries a
hidden ``csrf_token``:

- ``/login`` and ``/register`` bind it to a pre-login cookie (``gp_prelogin``: the cookie
  prefix + ``prelogin``; HttpOnly, SameSite=Lax, ``__Host-`` in secure mode) holding a
  random secret, so an attacker's page cannot sign the victim in to the attacker's
  account (login CSRF, SECURITY.md CSRF-08). The cookie is deleted at login.
- signed-in forms carry a token minted for the session's CSRF secret.

The first are checked with :meth:`CSRFPolicy.check <gatepass.transports.csrf.CSRFPolicy.check>`
against the pre-login secret, the second with :meth:`RequestAuth.require
<gatepass.asgi.middleware.RequestAuth.require>` (Sec-Fetch-Site, Origin or Referer on the
allow-list, then the token); a failure is a 403 page and changes nothing.
Errors are :class:`~gatepass.errors.GatepassError` s rendered as HTML with the status of
:func:`gatepass.asgi.errors.error_status`. Every page is ``no-store`` and carries a strict
Content-Security-Policy (no inline script: the demo's JS is ``/static/app.js``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Message, Receive, Scope, Send

from gatepass.asgi.errors import error_headers, error_status
from gatepass.asgi.middleware import RequestAuth, get_request_auth
from gatepass.errors import (
    AuthenticationError,
    CSRFError,
    EmailTaken,
    GatepassError,
    InvalidCredentials,
    PayloadTooLarge,
    RateLimited,
    ReauthenticationRequired,
    SessionExpired,
    UnsupportedMediaType,
    ValidationError,
)
from gatepass.principal import Principal
from gatepass.server import reauth
from gatepass.server.context import ServerContext
from gatepass.server.http import client_ip, user_agent
from gatepass.server.routes.wellknown import record_login
from gatepass.server.useragent import describe_device
from gatepass.transports.cookie import clear_cookie, parse_cookie_header, set_cookie
from gatepass.transports.csrf import make_csrf_token, new_csrf_secret

__all__ = ["routes", "safe_next"]

#: Largest form body read (API.md: bodies over 64 KiB get 413).
MAX_FORM_BYTES = 64 * 1024
_MAX_FIELDS = 16
_MAX_NEXT = 2048
_SECRET = re.compile(r"[0-9a-f]{64}")
_HERE = Path(__file__).resolve().parent.parent
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
_HEADERS = {
    "content-security-policy": _CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
_HSTS = "max-age=31536000"


#: Why the login page is shown (``?reason=``): fixed texts, never echoed input.
_NOTICES = {
    "expired": "Your session expired after a period of inactivity. Please sign in again.",
    "ended": "You were signed out: this session ended or was revoked from another device.",
    "signed-out": "You are signed out.",
}


_SIGNED_OUT = "/login?reason=signed-out"

#: What the account page says after a password change (``?notice=``, ``?error=``).
_ACCOUNT_NOTICES = {
    "password-changed": "Your password was changed. Every other device was signed out.",
}
_ACCOUNT_ERRORS = {
    "wrong-password": "Your current password was not right. Nothing was changed.",
    "weak-password": (
        "Choose a new password of 8 to 1024 characters that is not a commonly used "
        "password and not your email address. Nothing was changed."
    ),
    "rate-limited": "Too many failed attempts. Nothing was changed; try again later.",
}


def _timestamp(value: float | None) -> str:
    if not value:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M")


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["timestamp"] = _timestamp
TEMPLATES = Jinja2Templates(env=_ENV)

Endpoint = Callable[[Request], Awaitable[Response]]


# -- helpers --------------------------------------------------------------------------


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a safe same-origin relative path to redirect to, else ``None``.

    Safe means: starts with exactly one ``/``, has no backslash, whitespace, control or
    other non-printable character, no scheme and no authority, and stays so once
    percent-decoded (``/%2F%2Fevil.example`` is refused). SECURITY.md RD-01, S-27.
    """
    if not value or len(value) > _MAX_NEXT or not _safe_path(value):
        return None
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None
    return value if _safe_path(decoded) else None


def _safe_path(path: str) -> bool:
    if "\\" in path or any(ch.isspace() or not ch.isprintable() for ch in path):
        return False
    if not path.startswith("/") or path.startswith("//"):
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


def _ctx(request: Request) -> ServerContext:
    return cast(ServerContext, request.state.gatepass)


def _prelogin_secret(request: Request) -> str | None:
    """The pre-login cookie's secret, if the request has a well-formed one."""
    ctx = _ctx(request)
    name = ctx.cookies.full_name(ctx.settings.prelogin_cookie)
    value = parse_cookie_header(request.headers.get("cookie")).get(name, "")
    return value if _SECRET.fullmatch(value) else None


def _session_cookie(request: Request) -> str | None:
    for credential in get_request_auth(request.scope).credentials:
        if credential.kind == "session_cookie":
            return credential.value
    return None


def _session_auth(request: Request) -> RequestAuth | None:
    """The request's RequestAuth restricted to its session cookie (``None``: no cookie).

    Pages are the session column: a token cookie from ``/app`` must neither sign the
    user in here nor take the place of the session whose CSRF token the forms carry.
    """
    auth = get_request_auth(request.scope).only("session_cookie")
    return auth if auth.credentials else None


async def _session_principal(auth: RequestAuth | None) -> Principal | None:
    """The principal of a session-cookie RequestAuth, or ``None`` without a cookie.

    Raises:
        AuthenticationError: the cookie names no live session (SessionExpired for a
            timeout); StoreUnavailable propagates as always (fail closed).
    """
    principal = await auth.principal() if auth is not None else None
    if principal is None or principal.method != "session" or not principal.csrf_secret:
        return None
    return principal


async def _live_session(auth: RequestAuth | None) -> Principal | None:
    """Like :func:`_session_principal`, but ``None`` for a dead cookie too."""
    try:
        return await _session_principal(auth)
    except AuthenticationError:
        return None


async def _read_form(request: Request) -> dict[str, str]:
    """The urlencoded form body (first value of each field), capped at 64 KiB.

    Raises:
        UnsupportedMediaType: a body of another type (a post without any body is ``{}``).
        PayloadTooLarge: more than 64 KiB (refused while streaming, never buffered).
        ValidationError: not UTF-8, or more than 16 fields.
    """
    content_type = request.headers.get("content-type")
    media = (content_type or "").partition(";")[0].strip(" \t").lower()
    if content_type is not None and media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("form posts must be application/x-www-form-urlencoded")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise PayloadTooLarge("form body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge("form body too large")
    if content_type is None:
        if body:
            raise UnsupportedMediaType("a form body without Content-Type")
        return {}  # a post with no body at all is an empty form (and fails its CSRF check)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=_MAX_FIELDS,
            errors="strict",
        )
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise ValidationError("malformed form body") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _check_csrf(request: Request, secret: str | None, form: Mapping[str, str]) -> None:
    """Sec-Fetch-Site, Origin/Referer and the form's token; raises CSRFError."""
    _ctx(request).csrf.check(
        request.method, request.headers, secret=secret, token=form.get("csrf_token")
    )


def _finish(
    request: Request,
    response: Response,
    cookies: Iterable[str] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """Add the security headers, ``no-store``, the cookies and any extra headers."""
    for name, value in _HEADERS.items():
        response.headers[name] = value
    if not _ctx(request).settings.dev:
        response.headers["strict-transport-security"] = _HSTS
    response.headers["cache-control"] = "no-store"
    for cookie in cookies:
        response.headers.append("set-cookie", cookie)
    for name, value in headers:
        response.headers[name] = value
    return response


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    cookies: Iterable[str] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    context.setdefault("error", None)
    context.setdefault("notice", None)
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    return _finish(request, response, cookies, headers)


def _redirect(request: Request, url: str, cookies: Iterable[str] = ()) -> Response:
    return _finish(request, RedirectResponse(url, status_code=303), cookies)


def _error_page(request: Request, exc: GatepassError) -> Response:
    status = error_status(exc)
    context = {"status": status, "message": exc.public_detail, "csrf": isinstance(exc, CSRFError)}
    return _render(request, "error.html", context, status=status, headers=error_headers(exc))


def _html_errors(endpoint: Endpoint) -> Endpoint:
    """Render any GatepassError of ``endpoint`` as an HTML error page."""

    @wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except GatepassError as exc:
            return _error_page(request, exc)

    return wrapper


def _prelogin_form(request: Request) -> tuple[str, list[str]]:
    """(form token, Set-Cookie values): reuse a valid pre-login secret or start one."""
    ctx = _ctx(request)
    secret = _prelogin_secret(request)
    cookies: list[str] = []
    if secret is None:
        secret = new_csrf_secret()
        name = ctx.settings.prelogin_cookie
        cookies.append(set_cookie(name, secret, settings=ctx.cookies, same_site="lax"))
    return make_csrf_token(secret), cookies


async def _start_session(request: Request, user_id: str, next_path: str | None) -> Response:
    """Sign the user in with a fresh session and redirect (fixation-safe)."""
    ctx = _ctx(request)
    user = await ctx.store.get_user(user_id)
    if user is None:  # pragma: no cover - the user was just verified or created
        raise InvalidCredentials("user vanished")
    address, agent = client_ip(request), user_agent(request)
    login = await ctx.authenticator.login_session(
        user, replaces=_session_cookie(request), ip=address, user_agent=agent
    )
    cookies = ctx.cookie_transport.session_cookies(login.session_id, login.csrf_token, max_age=None)
    prelogin = ctx.settings.prelogin_cookie
    cookies.append(clear_cookie(prelogin, settings=ctx.cookies, same_site="lax"))
    return _redirect(request, next_path or "/account", cookies)


# -- sign in and sign up ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SignedOutPost:
    """A /login or /register post that passed its login-CSRF check."""

    secret: str
    email: str
    password: str
    next_path: str | None


async def _signed_out_post(request: Request) -> _SignedOutPost:
    form = await _read_form(request)
    secret = _prelogin_secret(request)
    _check_csrf(request, secret, form)
    assert secret is not None  # the CSRF check fails without one
    email, password = form.get("email", ""), form.get("password", "")
    return _SignedOutPost(secret, email, password, safe_next(form.get("next")))


def _form_again(
    request: Request,
    template: str,
    post: _SignedOutPost,
    error: str,
    exc: GatepassError,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """The form re-rendered with an error (never the password), under the same secret."""
    context = {
        "csrf_token": make_csrf_token(post.secret),
        "next": post.next_path or "",
        "email": post.email[:254],
        "error": error,
    }
    return _render(request, template, context, status=error_status(exc), headers=headers)


async def _signed_out_page(request: Request, template: str) -> Response:
    """GET /login or /register (already signed in: straight on to ``next``)."""
    next_path = safe_next(request.query_params.get("next"))
    if await _live_session(_session_auth(request)) is not None:
        return _redirect(request, next_path or "/account")
    token, cookies = _prelogin_form(request)
    notice = _NOTICES.get(request.query_params.get("reason", ""))
    context = {"csrf_token": token, "next": next_path or "", "email": "", "notice": notice}
    return _render(request, template, context, cookies=cookies)


@_html_errors
async def login_page(request: Request) -> Response:
    """GET /login: the sign-in form."""
    return await _signed_out_page(request, "login.html")


def _login_message(exc: InvalidCredentials | RateLimited) -> str:
    if isinstance(exc, RateLimited):
        wait = max(1, int(exc.retry_after))
        unit = "second" if wait == 1 else "seconds"
        return f"Too many failed sign-ins. Try again in {wait} {unit}."
    return exc.public_detail


@_html_errors
async def login_submit(request: Request) -> Response:
    """POST /login: check login CSRF, throttle, password; then start a session."""
    ctx = _ctx(request)
    post = await _signed_out_post(request)
    account = post.email.strip().lower()
    address = client_ip(request)
    try:
        async with ctx.throttle.attempt(account, address) as attempt:
            try:
                user = await ctx.authenticator.verify_password(
                    post.email, post.password, ip=address, user_agent=user_agent(request)
                )
            except InvalidCredentials:
                attempt.failed()
                record_login(request, "session", "failed")
                raise
            attempt.succeeded()
    except (InvalidCredentials, RateLimited) as exc:
        if isinstance(exc, RateLimited):
            await ctx.authenticator.audit(
                "login", "failed", ip=address, user_agent=user_agent(request), detail=exc.code
            )
        headers = error_headers(exc)
        return _form_again(request, "login.html", post, _login_message(exc), exc, headers)
    record_login(request, "session", "ok")
    return await _start_session(request, user.id, post.next_path)


@_html_errors
async def register_page(request: Request) -> Response:
    """GET /register: the sign-up form."""
    return await _signed_out_page(request, "register.html")


def _register_message(exc: ValidationError) -> str:
    if isinstance(exc, EmailTaken):
        return exc.public_detail
    if exc.field == "email":
        return "Enter a valid email address."
    return (
        "Choose a password of 8 to 1024 characters that is not a commonly used password "
        "and not your email address."
    )


@_html_errors
async def register_submit(request: Request) -> Response:
    """POST /register: check CSRF, create the user, sign them in."""
    post = await _signed_out_post(request)
    try:
        user = await _ctx(request).authenticator.register(post.email, post.password)
    except ValidationError as exc:
        return _form_again(request, "register.html", post, _register_message(exc), exc)
    return await _start_session(request, user.id, post.next_path)


# -- signed in ----------------------------------------------------------------------------


@_html_errors
async def account_page(request: Request) -> Response:
    """GET /account: the user and every live login, each with a revoke button.

    Without a session: to ``/login``. With a session cookie that no longer works, the
    login page says why (timed out, or ended elsewhere) and the dead cookie is cleared.
    """
    ctx = _ctx(request)
    auth = _session_auth(request)
    try:
        principal = await _session_principal(auth)
    except AuthenticationError as exc:  # only raised for a cookie that was sent
        reason = "expired" if isinstance(exc, SessionExpired) else "ended"
        cookies = [ctx.cookie_transport.clear_session_cookie()]
        return _redirect(request, f"/login?next=/account&reason={reason}", cookies)
    user = await ctx.store.get_user(principal.user_id) if principal else None
    if principal is None or user is None:
        return _redirect(request, "/login?next=/account")
    assert principal.csrf_secret is not None  # _session_principal guarantees it
    logins = await ctx.authenticator.list_logins(principal.user_id)
    context = {
        "user": user,
        "logins": [(login, describe_device(login.user_agent)) for login in logins],
        "current": principal.sid,
        "csrf_token": make_csrf_token(principal.csrf_secret),
        "notice": _ACCOUNT_NOTICES.get(request.query_params.get("notice", "")),
        "error": _ACCOUNT_ERRORS.get(request.query_params.get("error", "")),
    }
    return _render(request, "account.html", context)


async def _signed_in_form(request: Request) -> tuple[Principal | None, dict[str, str]]:
    """The session principal of a signed-in form post, after the CSRF rule, and the form.

    ``None`` without a valid session (nothing to protect); CSRFError when the form's
    ``csrf_token`` or the Origin/Referer fails.
    """
    form = await _read_form(request)
    auth = _session_auth(request)
    if auth is None or await _live_session(auth) is None:
        return None, form
    return await auth.require(csrf_token=form.get("csrf_token", "")), form


async def _reauth_page(
    request: Request,
    principal: Principal,
    form: Mapping[str, str],
    *,
    action: str,
    what: str,
    button: str,
) -> tuple[Response | None, list[str]]:
    """(None, Set-Cookie values of a new session id if the password was given) if the
    action may go on; else (the "Confirm it's you" page that re-posts it, []).

    Outside the re-authentication window the form must carry the password
    (:mod:`gatepass.server.reauth`); a wrong one counts as a failed login.
    """
    password = form.get("password") or None
    try:
        reauthenticated = await reauth.confirm(
            _ctx(request),
            principal,
            password,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
    except (ReauthenticationRequired, RateLimited) as exc:
        assert principal.csrf_secret is not None  # a session principal
        error = None
        if isinstance(exc, RateLimited):
            error = _login_message(exc)
        elif password is not None:
            error = "That password is not right."
        context = {
            "action": action,
            "what": what,
            "button": button,
            "error": error,
            "csrf_token": make_csrf_token(principal.csrf_secret),
        }
        status, headers = error_status(exc), error_headers(exc)
        return _render(request, "confirm.html", context, status=status, headers=headers), []
    if not reauthenticated:
        return None, []
    return None, await reauth.new_session_id(_ctx(request), principal, _session_cookie(request))


@_html_errors
async def revoke_login(request: Request) -> Response:
    """POST /account/sessions/{sid}/revoke: end one login of the signed-in user.

    Another login than this one needs the password again outside the window.
    """
    ctx = _ctx(request)
    principal, form = await _signed_in_form(request)
    if principal is None:
        return _redirect(request, "/login?next=/account")
    sid = request.path_params["sid"]
    cookies: list[str] = []
    if sid != principal.sid:
        confirm, cookies = await _reauth_page(
            request,
            principal,
            form,
            action=f"/account/sessions/{quote(sid, safe='')}/revoke",
            what="Revoking a login signs that device out at once.",
            button="Revoke the login",
        )
        if confirm is not None:
            return confirm
    await ctx.authenticator.revoke_login(
        principal.user_id, sid, ip=client_ip(request), user_agent=user_agent(request)
    )
    if sid == principal.sid:
        return _redirect(request, _SIGNED_OUT, ctx.cookie_transport.clear_session_cookies())
    return _redirect(request, "/account", cookies)


@_html_errors
async def logout(request: Request) -> Response:
    """POST /logout: end this session and clear its cookies."""
    ctx = _ctx(request)
    principal, _ = await _signed_in_form(request)
    if principal is not None:
        await ctx.authenticator.logout(
            principal, ip=client_ip(request), user_agent=user_agent(request)
        )
    return _signed_out(request, principal)


@_html_errors
async def logout_all(request: Request) -> Response:
    """POST /logout-all: end every session and token family of the user."""
    ctx = _ctx(request)
    principal, form = await _signed_in_form(request)
    if principal is not None:
        confirm, _ = await _reauth_page(
            request,
            principal,
            form,
            action="/logout-all",
            what="Signing out everywhere ends every login of your account, this one too.",
            button="Sign out everywhere",
        )
        if confirm is not None:
            return confirm
        await ctx.authenticator.logout_all(
            principal.user_id, ip=client_ip(request), user_agent=user_agent(request)
        )
    return _signed_out(request, principal)


@_html_errors
async def change_password(request: Request) -> Response:
    """POST /account/password: check the current password, set the new one, and end
    every other login; back to /account with a fixed notice or error."""
    principal, form = await _signed_in_form(request)
    if principal is None:
        return _redirect(request, "/login?next=/account")
    try:
        await reauth.change_password(
            _ctx(request),
            principal,
            form.get("current_password", ""),
            form.get("new_password", ""),
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
    except ReauthenticationRequired:
        return _redirect(request, "/account?error=wrong-password")
    except RateLimited:
        return _redirect(request, "/account?error=rate-limited")
    except ValidationError:
        return _redirect(request, "/account?error=weak-password")
    cookies = await reauth.new_session_id(_ctx(request), principal, _session_cookie(request))
    return _redirect(request, "/account?notice=password-changed", cookies)


def _signed_out(request: Request, principal: Principal | None) -> Response:
    """After a sign-out post: to /login, clearing the session cookies if one was sent.

    A post that carried no session cookie (say a cross-site form, which SameSite keeps
    the cookie from) touches no cookie: otherwise any site could sign visitors out by
    making their browser store an expired cookie.
    """
    ctx = _ctx(request)
    if principal is None:  # a dead session cookie: clear it, but not the CSRF cookie,
        # which may belong to a token-cookie login of this browser (API.md has one gp_csrf)
        if _session_cookie(request) is None:
            return _redirect(request, "/login")
        return _redirect(request, _SIGNED_OUT, [ctx.cookie_transport.clear_session_cookie()])
    return _redirect(request, _SIGNED_OUT, ctx.cookie_transport.clear_session_cookies())


@_html_errors
async def app_page(request: Request) -> Response:
    """GET /app: the single-page demo of the token column (static HTML + app.js).

    With ``--demo-api`` the page also calls that API service, so the CSP's
    ``connect-src`` names its origin too (and nothing else).
    """
    ctx = _ctx(request)
    api = ctx.settings.demo_api_origin
    context = {"csrf_cookie": ctx.cookie_transport.csrf_cookie_name, "api_origin": api or ""}
    headers = []
    if api:
        csp = _CSP.replace("connect-src 'self'", f"connect-src 'self' {api}")
        headers.append(("content-security-policy", csp))
    return _render(request, "app.html", context, headers=headers)


class _Static:
    """StaticFiles with ``nosniff`` and the CSP on every response."""

    def __init__(self, directory: Path) -> None:
        self._files = StaticFiles(directory=directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in _HEADERS.items()),
                ]
            await send(message)

        await self._files(scope, receive, send_with_headers)


def routes() -> list[BaseRoute]:
    """The page routes and the ``/static`` mount."""
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/register", register_page, methods=["GET"]),
        Route("/register", register_submit, methods=["POST"]),
        Route("/account", account_page, methods=["GET"]),
        Route("/account/sessions/{sid}/revoke", revoke_login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/logout-all", logout_all, methods=["POST"]),
        Route("/account/password", change_password, methods=["POST"]),
        Route("/app", app_page, methods=["GET"]),
        Mount("/static", app=_Static(_HERE / "static"), name="static"),
    ]
