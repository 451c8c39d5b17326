"""Re-authentication for the actions a stolen cookie or token must not be able to do.

Ending another login, ending every login, and changing the password ask for the
account's password again unless the requesting login began within
``GATEPASS_REAUTH_WINDOW`` seconds (ASVS 5.0 7.5.1, 7.5.2; API.md addition). So a
thief holding an old session cookie cannot sign the real user out everywhere or
lock them out, while a user who just signed in is not asked twice.

A password given for re-authentication is checked through the login throttle (same
account and address counters as a login), so a stolen credential is no better a
password-guessing oracle than the login form.

A session that re-authenticates or changes the password gets a new session id
(SECURITY.md SES-03): a copy of the old cookie stops working (on other instances with a
local session cache, when the revocation feed brings them the old id's retirement).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from gatepass.errors import ReauthenticationRequired
from gatepass.principal import Principal
from gatepass.server.context import ServerContext
from gatepass.transports.csrf import make_csrf_token

__all__ = ["change_password", "confirm", "new_session_id"]

T = TypeVar("T")


async def confirm(
    ctx: ServerContext,
    principal: Principal,
    password: str | None,
    *,
    ip: str | None,
    user_agent: str | None,
) -> bool:
    """Let the action proceed (True if a password was checked), or raise
    ReauthenticationRequired / RateLimited.

    Without a password the login must have begun within the window; a password
    that is given is always checked, even inside the window.
    """
    if password is None:
        if await ctx.authenticator.is_recent_login(principal, ctx.settings.reauth_window):
            return False
        raise ReauthenticationRequired("the login is older than the re-authentication window")
    await _throttled(
        ctx,
        principal,
        ip,
        lambda: ctx.authenticator.reauthenticate(
            principal.user_id, password, sid=principal.sid, ip=ip, user_agent=user_agent
        ),
    )
    return True


async def new_session_id(
    ctx: ServerContext, principal: Principal, session_id: str | None
) -> list[str]:
    """Give the principal's session a new id after a re-authentication; its Set-Cookie
    values (the CSRF secret, hence every CSRF token, stays). Nothing for other logins."""
    if principal.method != "session" or session_id is None or principal.csrf_secret is None:
        return []
    new_id = await ctx.authenticator.sessions.rotate(session_id)
    csrf = make_csrf_token(principal.csrf_secret)
    return ctx.cookie_transport.session_cookies(new_id, csrf, max_age=None)


async def change_password(
    ctx: ServerContext,
    principal: Principal,
    current_password: str,
    new_password: str,
    *,
    ip: str | None,
    user_agent: str | None,
) -> int:
    """:meth:`Authenticator.change_password` behind the login throttle; logins ended."""
    return await _throttled(
        ctx,
        principal,
        ip,
        lambda: ctx.authenticator.change_password(
            principal, current_password, new_password, ip=ip, user_agent=user_agent
        ),
    )


async def _throttled(
    ctx: ServerContext, principal: Principal, ip: str | None, check: Callable[[], Awaitable[T]]
) -> T:
    """Run a password check under the login throttle of the principal's account."""
    user = await ctx.store.get_user(principal.user_id)
    account = user.email if user is not None else f"id:{principal.user_id}"
    async with ctx.throttle.attempt(account, ip) as attempt:
        try:
            result = await check()
        except ReauthenticationRequired:
            attempt.failed()
            raise
        attempt.succeeded()
    return result
