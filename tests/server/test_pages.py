"""The server-rendered pages: login CSRF, open redirects, account, revoke, logout, headers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gatepass.asgi.middleware import ASGIApp, Receive, Scope, Send
from gatepass.errors import AuthenticationError
from gatepass.passwords import Argon2Hasher
from gatepass.server.app import create_app
from gatepass.server.context import ServerContext
from gatepass.server.routes.pages import TEMPLATES, safe_next
from gatepass.server.settings import ServerSettings
from gatepass.transports.base import Credential
from gatepass.transports.cookie import parse_cookie_header
from gatepass.transports.csrf import make_csrf_token, new_csrf_secret, verify_csrf_token
from tests.conftest import FAST_PASSWORDS, FakeClock

pytestmark = pytest.mark.anyio

ORIGIN = "https://app.example"
EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

#: SECURITY.md S-27, plus encoded and whitespace variants.
OPEN_REDIRECTS = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    " //evil.example",
    "https://app.example.evil.example",
    "https://app.example@evil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/%2f/evil.example",
    "///evil.example",
    "/\u3000/evil.example",
]


class _WithState:
    """Hands the lifespan state to every request, as an ASGI server does.

    httpx.ASGITransport runs no lifespan, so the test drives it and copies its state
    into each request scope (Starlette reads ``scope["state"]``).
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


@dataclass
class Server:
    app: _WithState
    ctx: ServerContext
    base_url: str

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=self.base_url, **kwargs)


@contextlib.asynccontextmanager
async def running(clock: FakeClock, **overrides: Any) -> AsyncIterator[Server]:
    """The real app with its lifespan run; cheap argon2 parameters for speed."""
    if overrides.get("dev"):
        settings = ServerSettings(store="memory://", **overrides)
    else:
        settings = ServerSettings(store="memory://", host="app.example", port=443, **overrides)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app) as lifespan_state:
        state = dict(lifespan_state or {})
        ctx: ServerContext = state["gatepass"]
        ctx.authenticator.hasher = Argon2Hasher(FAST_PASSWORDS)
        yield Server(_WithState(app, state), ctx, settings.base_url.removesuffix(":443"))


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[Server]:
    async with running(clock) as srv:
        yield srv


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as c:
        yield c


def form_token(response: httpx.Response) -> str:
    match = _TOKEN.search(response.text)
    assert match is not None, "the page has no csrf_token field"
    return match.group(1)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie header values by cookie name."""
    found = {}
    for value in response.headers.get_list("set-cookie"):
        found[value.partition("=")[0]] = value
    return found


def attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


async def sign_up(client: httpx.AsyncClient, email: str = EMAIL) -> httpx.Response:
    page = await client.get("/register")
    data = {"email": email, "password": PASSWORD, "csrf_token": form_token(page)}
    response = await client.post("/register", data=data)
    assert 303 == response.status_code
    return response


async def sign_in(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: str
) -> httpx.Response:
    page = await client.get("/login")
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": form_token(page), **fields}
    return await client.post("/login", data=data, headers=headers)


async def account_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/account")
    assert 200 == page.status_code
    return form_token(page)


async def user_id(server: Server, email: str = EMAIL) -> str:
    user = await server.ctx.store.get_user_by_email(email)
    assert user is not None
    return user.id


async def logins(server: Server, email: str = EMAIL) -> set[str]:
    return {x.id for x in await server.ctx.authenticator.list_logins(await user_id(server, email))}


async def session_valid(server: Server, session_id: str) -> bool:
    try:
        await server.ctx.authenticator.authenticate([Credential("session_cookie", session_id)])
    except AuthenticationError:
        return False
    return True


# -- login CSRF ------------------------------------------------------------------------


async def test_login_page_sets_prelogin_cookie_bound_to_form_token(
    client: httpx.AsyncClient,
) -> None:
    """GET /login sets an HttpOnly __Host- pre-login cookie whose secret the form token matches."""
    response = await client.get("/login")
    cookie = set_cookies(response)["__Host-gp_prelogin"]
    secret = cookie.split(";")[0].partition("=")[2]
    assert 200 == response.status_code
    assert {"path", "secure", "httponly", "samesite"} <= attributes(cookie)
    assert "SameSite=Lax" in cookie
    assert "Domain" not in cookie
    assert verify_csrf_token(secret, form_token(response))


async def test_login_page_reuses_a_valid_prelogin_cookie(client: httpx.AsyncClient) -> None:
    """A second GET /login keeps the pre-login secret, so two open tabs both work."""
    first = await client.get("/login")
    second = await client.get("/login")
    secret = parse_cookie_header(first.headers["set-cookie"])["__Host-gp_prelogin"]
    assert "set-cookie" not in second.headers
    assert verify_csrf_token(secret, form_token(second))


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b", "forged"])
async def test_login_without_valid_token_is_403_and_signs_nobody_in(
    server: Server, client: httpx.AsyncClient, token: str | None
) -> None:
    """POST /login without a valid csrf_token: 403 page, no session cookie, no session."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    await client.get("/login")
    data = {"email": EMAIL, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = make_csrf_token(new_csrf_secret()) if token == "forged" else token
    response = await client.post("/login", data=data)
    assert 403 == response.status_code
    assert "text/html" in response.headers["content-type"]
    assert "__Host-gp_session" not in set_cookies(response)
    assert set() == await logins(server)


async def test_login_with_right_token_sets_secure_session_cookies(
    server: Server, client: httpx.AsyncClient
) -> None:
    """POST /login with the form's token: 303 to /account with __Host- session + CSRF cookies."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    response = await sign_in(client, headers={"Origin": ORIGIN})
    cookies = set_cookies(response)
    session, csrf = cookies["__Host-gp_session"], cookies["__Host-gp_csrf"]
    assert (303, "/account") == (response.status_code, response.headers["location"])
    assert "no-store" == response.headers["cache-control"]
    assert {"path", "secure", "httponly", "samesite"} <= attributes(session)
    assert "SameSite=Lax" in session
    assert "Path=/" in session
    assert "Domain" not in session
    assert {"path", "secure", "samesite"} <= attributes(csrf)
    assert "httponly" not in attributes(csrf)
    assert "Max-Age=0" in cookies["__Host-gp_prelogin"]
    assert 1 == len(await logins(server))


async def test_token_of_another_prelogin_cookie_fails(
    server: Server, client: httpx.AsyncClient
) -> None:
    """Login CSRF: a token minted for the attacker's pre-login cookie fails with the victim's."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    async with server.client() as attacker:
        stolen = form_token(await attacker.get("/login"))
    await client.get("/login")  # the victim's own pre-login cookie
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": stolen}
    response = await client.post("/login", data=data)
    async with server.client() as bare:  # no pre-login cookie at all
        bare_response = await bare.post("/login", data=data)
    assert (403, 403) == (response.status_code, bare_response.status_code)
    assert set() == await logins(server)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://app.example.evil.example"},
        {"Origin": "https://app.example:8443"},
        {"Origin": "http://app.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/login"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_foreign_origin_login_is_403(
    server: Server, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """A cross-site login post with the right token still gets 403 and signs nobody in."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    response = await sign_in(client, headers=headers)
    assert 403 == response.status_code
    assert set() == await logins(server)


async def test_login_replaces_a_presented_session(
    server: Server, client: httpx.AsyncClient
) -> None:
    """Session fixation: a session id sent with the login is ended and a new one issued."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    first = set_cookies(await sign_in(client))["__Host-gp_session"]
    old_id = parse_cookie_header(first)["__Host-gp_session"]
    again = await client.get("/login")  # signed in: sent straight on
    async with server.client() as other:
        page = await other.get("/login")
        prelogin = other.cookies["__Host-gp_prelogin"]
        data = {"email": EMAIL, "password": PASSWORD, "csrf_token": form_token(page)}
        cookie = f"__Host-gp_prelogin={prelogin}; __Host-gp_session={old_id}"
        second = await other.post("/login", data=data, headers={"Cookie": cookie})
    new_id = parse_cookie_header(set_cookies(second)["__Host-gp_session"])["__Host-gp_session"]
    assert (303, "/account") == (again.status_code, again.headers["location"])
    assert new_id != old_id
    assert not await session_valid(server, old_id)
    assert await session_valid(server, new_id)


# -- throttling and failures -----------------------------------------------------------


async def test_wrong_password_then_throttled(clock: FakeClock) -> None:
    """Wrong passwords re-render the form with 401; over the limit even the right one gets 429."""
    async with running(clock, login_limit="2/minute") as srv, srv.client() as client:
        await srv.ctx.authenticator.register(EMAIL, PASSWORD)
        wrong = [await sign_in(client, password="wrong password") for _ in range(2)]
        blocked = await sign_in(client)
        clock.advance(61)
        later = await sign_in(client)
    assert [401, 401] == [r.status_code for r in wrong]
    assert "The email or password is incorrect." in wrong[0].text
    assert (429, "text/html") == (blocked.status_code, blocked.headers["content-type"][:9])
    assert int(blocked.headers["retry-after"]) >= 1
    assert "__Host-gp_session" not in set_cookies(blocked)
    assert 303 == later.status_code


async def test_unknown_email_gets_the_same_page_as_a_wrong_password(
    server: Server, client: httpx.AsyncClient
) -> None:
    """An unknown email and a wrong password give the same status and message."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    unknown = await sign_in(client, email="nobody@example.com")
    wrong = await sign_in(client, password="not the password")
    assert (unknown.status_code, "incorrect" in unknown.text) == (
        wrong.status_code,
        "incorrect" in wrong.text,
    )


# -- open redirects --------------------------------------------------------------------


@pytest.mark.parametrize("payload", OPEN_REDIRECTS)
def test_safe_next_refuses_open_redirects(payload: str) -> None:
    """Every S-27 open-redirect payload is refused as a post-login target."""
    assert safe_next(payload) is None


@pytest.mark.parametrize("path", ["/app", "/account?tab=logins", "/a/b#c", "/caf%C3%A9"])
def test_safe_next_keeps_relative_paths(path: str) -> None:
    """Same-origin relative paths are kept as they are."""
    assert path == safe_next(path)


@pytest.mark.parametrize("payload", OPEN_REDIRECTS)
async def test_open_redirect_payloads_land_on_account(
    server: Server, client: httpx.AsyncClient, payload: str
) -> None:
    """A login with an unsafe ``next`` redirects to /account, and the page never echoes it."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    page = await client.get("/login", params={"next": payload})
    response = await sign_in(client, next=payload)
    assert 'name="next"' not in page.text
    assert (303, "/account") == (response.status_code, response.headers["location"])


async def test_safe_next_is_followed(server: Server, client: httpx.AsyncClient) -> None:
    """A relative ``next`` from the login page's query survives into the redirect."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    page = await client.get("/login", params={"next": "/app"})
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": form_token(page), "next": "/app"}
    response = await client.post("/login", data=data)
    assert 'name="next" value="/app"' in page.text
    assert (303, "/app") == (response.status_code, response.headers["location"])


# -- register ----------------------------------------------------------------------------


async def test_register_signs_in(server: Server, client: httpx.AsyncClient) -> None:
    """POST /register creates the user and starts a session."""
    response = await sign_up(client)
    assert "/account" == response.headers["location"]
    assert "__Host-gp_session" in set_cookies(response)
    assert 1 == len(await logins(server))


@pytest.mark.parametrize(
    ("email", "password", "status", "message"),
    [
        (EMAIL, "short", 422, "8 to 1024 characters"),
        (EMAIL, "password", 422, "commonly used"),
        ("not-an-email", PASSWORD, 422, "valid email"),
    ],
)
async def test_register_rejects_bad_input_with_a_form_error(
    server: Server, client: httpx.AsyncClient, email: str, password: str, status: int, message: str
) -> None:
    """Weak passwords and bad emails re-render the form with an error and no session."""
    page = await client.get("/register")
    data = {"email": email, "password": password, "csrf_token": form_token(page)}
    response = await client.post("/register", data=data)
    assert (status, True) == (response.status_code, message in response.text)
    assert "__Host-gp_session" not in set_cookies(response)
    assert await server.ctx.store.get_user_by_email(EMAIL) is None


async def test_register_duplicate_email(server: Server, client: httpx.AsyncClient) -> None:
    """A taken email re-renders the form with 409 and keeps the existing account."""
    user = await server.ctx.authenticator.register(EMAIL, PASSWORD)
    page = await client.get("/register")
    data = {"email": EMAIL, "password": "another fine passphrase", "csrf_token": form_token(page)}
    response = await client.post("/register", data=data)
    assert 409 == response.status_code
    assert "already exists" in response.text
    assert user == await server.ctx.store.get_user_by_email(EMAIL)


async def test_register_without_token_is_403(server: Server, client: httpx.AsyncClient) -> None:
    """POST /register without the form token: 403 and no user."""
    await client.get("/register")
    response = await client.post("/register", data={"email": EMAIL, "password": PASSWORD})
    assert 403 == response.status_code
    assert await server.ctx.store.get_user_by_email(EMAIL) is None


# -- account ------------------------------------------------------------------------------


async def test_account_without_session_redirects_to_login(client: httpx.AsyncClient) -> None:
    """GET /account without a session cookie: 303 to /login?next=/account."""
    response = await client.get("/account")
    assert (303, "/login?next=/account") == (response.status_code, response.headers["location"])


async def test_account_with_a_dead_session_says_why(client: httpx.AsyncClient) -> None:
    """A session cookie that names no session: to /login with reason=ended, cookie cleared."""
    response = await client.get("/account", headers={"Cookie": "__Host-gp_session=forged"})
    where = "/login?next=/account&reason=ended"
    assert (303, where) == (response.status_code, response.headers["location"])
    cleared = [c for c in response.headers.get_list("set-cookie") if "gp_session=" in c]
    assert cleared
    assert "Max-Age=0" in cleared[0]
    # Only that cookie: the CSRF cookie may be a token-cookie login's (one gp_csrf).
    assert not any("gp_csrf" in c for c in response.headers.get_list("set-cookie"))
    page = await client.get(where)
    assert "revoked from another device" in page.text


async def test_account_with_an_expired_session_says_so(
    server: Server, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Past the idle timeout: to /login with reason=expired, and the page says it expired."""
    await sign_up(client)
    assert 200 == (await client.get("/account")).status_code
    clock.advance(server.ctx.settings.session_idle_ttl + 1)
    response = await client.get("/account")
    where = "/login?next=/account&reason=expired"
    assert (303, where) == (response.status_code, response.headers["location"])
    page = await client.get(where)
    assert "Your session expired after a period of inactivity" in page.text


async def test_login_notice_is_a_fixed_text(client: httpx.AsyncClient) -> None:
    """?reason= picks one of a few fixed sentences; anything else shows nothing."""
    page = await client.get("/login?reason=%3Cb%3Ehi%3C%2Fb%3E")
    assert 200 == page.status_code
    assert 'class="notice"' not in page.text
    assert "&lt;b&gt;" not in page.text


async def test_account_lists_every_login_and_marks_the_current(
    server: Server, client: httpx.AsyncClient
) -> None:
    """/account lists sessions and token families, the current one marked."""
    await sign_up(client)
    user = await server.ctx.store.get_user_by_email(EMAIL)
    assert user is not None
    pair = await server.ctx.authenticator.login_tokens(user, user_agent="phone-app/1.0")
    other = await server.ctx.authenticator.login_session(user, user_agent="Firefox/128")
    page = await client.get("/account")
    current = (await logins(server)) - {pair.sid, other.sid}
    assert 200 == page.status_code
    assert all(sid in page.text for sid in (pair.sid, other.sid, *current))
    assert "phone-app/1.0" in page.text
    assert "Firefox/128" in page.text
    assert 1 == page.text.count("This device")
    assert "Firefox 128" in page.text  # the device column names the browser
    assert "App login (tokens)" in page.text


async def test_user_agent_is_escaped_on_account(server: Server) -> None:
    """A User-Agent with markup renders escaped (templates autoescape)."""
    agent = '<script>alert("x")</script>'
    async with server.client(headers={"User-Agent": agent}) as client:
        await sign_up(client)
        page = await client.get("/account")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


async def test_echoed_email_is_escaped(server: Server, client: httpx.AsyncClient) -> None:
    """The email re-rendered after a failed login is escaped."""
    response = await sign_in(client, email='"><script>x()</script>')
    assert '"><script>' not in response.text
    assert "&#34;&gt;&lt;script&gt;x()&lt;/script&gt;" in response.text


def test_templates_autoescape() -> None:
    """The page environment autoescapes: hostile values never render as markup."""
    hostile = "<b>x</b>"
    values: dict[str, object] = {"csrf_token": hostile, "next": hostile, "email": hostile}
    values["error"] = hostile
    values["notice"] = hostile
    pages: dict[str, dict[str, object]] = {
        "login.html": values,
        "register.html": values,
        "error.html": {"status": 403, "message": hostile, "csrf": True},
        "app.html": {"csrf_cookie": hostile, "api_origin": hostile},
    }
    assert TEMPLATES.env.autoescape is True
    for name, context in pages.items():
        html = TEMPLATES.env.get_template(name).render(**context)
        assert (name, False) == (name, hostile in html)
        assert "&lt;b&gt;x&lt;/b&gt;" in html


# -- revoke and logout -------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", "other-session"])
async def test_revoke_without_valid_token_is_403(
    server: Server, client: httpx.AsyncClient, token: str | None
) -> None:
    """Revoking a login without the session's CSRF token: 403, the login stays."""
    await sign_up(client)
    user = await server.ctx.store.get_user_by_email(EMAIL)
    assert user is not None
    other = await server.ctx.authenticator.login_session(user)
    data: dict[str, str] = {}
    if token == "wrong":
        data["csrf_token"] = make_csrf_token(new_csrf_secret())
    elif token == "other-session":
        data["csrf_token"] = other.csrf_token
    response = await client.post(f"/account/sessions/{other.sid}/revoke", data=data)
    assert 403 == response.status_code
    assert await session_valid(server, other.session_id)


async def test_revoke_with_token_ends_that_login(server: Server, client: httpx.AsyncClient) -> None:
    """Revoking with the form token ends that login at once and returns to /account."""
    await sign_up(client)
    user = await server.ctx.store.get_user_by_email(EMAIL)
    assert user is not None
    other = await server.ctx.authenticator.login_session(user)
    pair = await server.ctx.authenticator.login_tokens(user)
    token = await account_token(client)
    r1 = await client.post(f"/account/sessions/{other.sid}/revoke", data={"csrf_token": token})
    r2 = await client.post(f"/account/sessions/{pair.sid}/revoke", data={"csrf_token": token})
    assert [(303, "/account")] * 2 == [(r.status_code, r.headers["location"]) for r in (r1, r2)]
    assert not await session_valid(server, other.session_id)
    assert {other.sid, pair.sid}.isdisjoint(await logins(server))
    with pytest.raises(AuthenticationError):
        await server.ctx.authenticator.authenticate([Credential("bearer", pair.access_token)])


async def test_revoke_someone_elses_login_is_404(server: Server, client: httpx.AsyncClient) -> None:
    """Another user's login id is not found, and stays alive."""
    victim = await server.ctx.authenticator.register("bob@example.com", PASSWORD)
    theirs = await server.ctx.authenticator.login_session(victim)
    await sign_up(client)
    token = await account_token(client)
    response = await client.post(
        f"/account/sessions/{theirs.sid}/revoke", data={"csrf_token": token}
    )
    assert 404 == response.status_code
    assert await session_valid(server, theirs.session_id)


async def test_logout_needs_the_token_then_ends_the_session(
    server: Server, client: httpx.AsyncClient
) -> None:
    """POST /logout: 403 without the token; with it the session ends and cookies clear."""
    response = await sign_up(client)
    sid = parse_cookie_header(set_cookies(response)["__Host-gp_session"])["__Host-gp_session"]
    refused = await client.post("/logout", data={})
    still = await session_valid(server, sid)
    done = await client.post("/logout", data={"csrf_token": await account_token(client)})
    cleared = set_cookies(done)
    assert (403, True) == (refused.status_code, still)
    assert (303, "/login?reason=signed-out") == (done.status_code, done.headers["location"])
    assert "Max-Age=0" in cleared["__Host-gp_session"]
    assert "Max-Age=0" in cleared["__Host-gp_csrf"]
    assert not await session_valid(server, sid)
    assert 303 == (await client.get("/account")).status_code


async def test_logout_all_ends_every_login(server: Server, client: httpx.AsyncClient) -> None:
    """POST /logout-all ends every session and token family of the user."""
    await sign_up(client)
    user = await server.ctx.store.get_user_by_email(EMAIL)
    assert user is not None
    other = await server.ctx.authenticator.login_session(user)
    pair = await server.ctx.authenticator.login_tokens(user)
    refused = await client.post("/logout-all", data={"csrf_token": "nope"})
    alive = len(await logins(server))
    done = await client.post("/logout-all", data={"csrf_token": await account_token(client)})
    assert (403, 3) == (refused.status_code, alive)
    assert (303, "/login?reason=signed-out") == (done.status_code, done.headers["location"])
    assert set() == await logins(server)
    assert not await session_valid(server, other.session_id)
    with pytest.raises(AuthenticationError):
        await server.ctx.authenticator.authenticate([Credential("bearer", pair.access_token)])


async def test_signed_in_form_from_foreign_origin_is_403(
    server: Server, client: httpx.AsyncClient
) -> None:
    """A signed-in form post with the right token but a foreign Origin is refused."""
    await sign_up(client)
    token = await account_token(client)
    response = await client.post(
        "/logout-all", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert 403 == response.status_code
    assert 1 == len(await logins(server))


async def test_pages_use_only_the_session_cookie(server: Server, client: httpx.AsyncClient) -> None:
    """A token-cookie login (/app) neither signs in to /account nor hijacks its forms."""
    await server.ctx.authenticator.register(EMAIL, PASSWORD)
    body = {"email": EMAIL, "password": PASSWORD, "transport": "cookie"}
    async with server.client() as app_only:
        token_login = await app_only.post("/auth/token/login", json=body)
        page = await app_only.get("/account")
    await sign_in(client)
    both = await client.post("/auth/token/login", json=body)  # access + refresh cookies too
    done = await client.post("/logout-all", data={"csrf_token": await account_token(client)})
    assert (200, 200) == (token_login.status_code, both.status_code)
    assert (303, "/login?next=/account") == (page.status_code, page.headers["location"])
    assert (303, "/login?reason=signed-out") == (done.status_code, done.headers["location"])
    assert set() == await logins(server)


# -- bodies, headers, the demo page ----------------------------------------------------


async def test_form_body_type_and_size(client: httpx.AsyncClient) -> None:
    """Form posts must be urlencoded (415 otherwise) and at most 64 KiB (413)."""
    await client.get("/login")
    wrong_type = await client.post("/login", json={"email": EMAIL})
    too_big = await client.post("/login", data={"email": "x" * 70_000})
    assert (415, 413) == (wrong_type.status_code, too_big.status_code)


@pytest.mark.parametrize("path", ["/login", "/register", "/app", "/account"])
async def test_security_headers_on_pages(client: httpx.AsyncClient, path: str) -> None:
    """Every page carries CSP, frame, referrer, nosniff, HSTS and no-store headers."""
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "DENY" == response.headers["x-frame-options"]
    assert "same-origin" == response.headers["referrer-policy"]
    assert "nosniff" == response.headers["x-content-type-options"]
    assert "no-store" == response.headers["cache-control"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_error_pages_carry_security_headers(client: httpx.AsyncClient) -> None:
    """A 403 page is HTML with the same security headers."""
    response = await client.post("/login", data={"email": EMAIL})
    assert 403 == response.status_code
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "nosniff" == response.headers["x-content-type-options"]


async def test_app_page_has_no_inline_script(client: httpx.AsyncClient) -> None:
    """/app loads its JS from /static/app.js and has no inline script."""
    page = await client.get("/app")
    script = await client.get("/static/app.js")
    css = await client.get("/static/app.css")
    assert 200 == page.status_code
    assert ['<script type="module" src="/static/app.js">'] == re.findall(
        r"<script[^>]*>", page.text
    )
    assert 'data-csrf-cookie="__Host-gp_csrf"' in page.text
    assert (200, "nosniff") == (script.status_code, script.headers["x-content-type-options"])
    assert "javascript" in script.headers["content-type"]
    assert "localStorage." not in script.text
    assert "sessionStorage." not in script.text
    assert (200, "text/css") == (css.status_code, css.headers["content-type"][:8])


async def test_dev_mode_drops_host_prefix_and_secure(clock: FakeClock) -> None:
    """In --dev mode the cookies have plain names and no Secure flag."""
    async with running(clock, dev=True) as srv, srv.client() as client:
        page = await client.get("/login")
        data = {"email": EMAIL, "password": PASSWORD, "csrf_token": form_token(page)}
        response = await client.post("/register", data=data)
    cookies = set_cookies(response)
    assert {"gp_session", "gp_csrf", "gp_prelogin"} <= set(cookies)
    assert all("Secure" not in value for value in cookies.values())
    assert "gp_prelogin" in set_cookies(page)
    assert "strict-transport-security" not in page.headers


@pytest.mark.parametrize("path", ["/logout", "/logout-all"])
async def test_sign_out_post_without_a_session_cookie_touches_no_cookie(
    client: httpx.AsyncClient, path: str
) -> None:
    """A cross-site form arrives without cookies: no Set-Cookie (no forced sign-out)."""
    response = await client.post(path, data={})
    assert (303, "/login") == (response.status_code, response.headers["location"])
    assert [] == response.headers.get_list("set-cookie")


@pytest.mark.parametrize("path", ["/logout", "/logout-all"])
async def test_sign_out_post_with_a_dead_session_cookie_clears_it(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, data={}, headers={"Cookie": "__Host-gp_session=gone"})
    assert (303, "/login?reason=signed-out") == (response.status_code, response.headers["location"])
    assert any("gp_session=;" in c for c in response.headers.get_list("set-cookie"))
    assert not any("gp_csrf" in c for c in response.headers.get_list("set-cookie"))


async def test_account_cap_refuses_the_form_from_a_fresh_address(clock: FakeClock) -> None:
    """Over the account-wide cap, the sign-in form from an address without an earlier
    success for the account gets the 429 page; the user's own address still signs in."""
    async with running(clock, account_limit="2/hour") as srv:
        await srv.ctx.authenticator.register(EMAIL, PASSWORD)

        def from_address(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=srv.app, client=(ip, 40000))
            return httpx.AsyncClient(transport=transport, base_url=srv.base_url)

        async with (
            from_address("203.0.113.7") as home,
            from_address("198.51.100.1") as bot1,
            from_address("198.51.100.2") as bot2,
            from_address("192.0.2.66") as fresh,
            from_address("203.0.113.7") as home_later,  # a new cookie jar, same address
        ):
            assert 303 == (await sign_in(home)).status_code  # trusts 203.0.113.7
            wrong = [await sign_in(bot, password="wrong password") for bot in (bot1, bot2)]
            blocked = await sign_in(fresh)
            again = await sign_in(home_later)
    assert [401, 401] == [r.status_code for r in wrong]
    assert (429, "text/html") == (blocked.status_code, blocked.headers["content-type"][:9])
    assert 3500 < int(blocked.headers["retry-after"]) <= 3600
    assert "Too many failed sign-ins" in blocked.text
    assert "__Host-gp_session" not in set_cookies(blocked)
    assert 303 == again.status_code
