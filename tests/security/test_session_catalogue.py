"""SECURITY.md section 3: every session, cookie, CSRF and login attack S-01..S-28, refused.

Each item has a named regression test through HTTP against a real ``gatepass serve``
process (secure mode: ``Secure`` ``__Host-`` cookies, the deployer's TLS proxy assumed
in front) and, where the library is the unit that decides, one through the library API
(``..._library``). Every test carries a positive control: the legitimate request next
to the attack succeeds, so a refusal is the attack's, not a broken fixture's. Items that
do not apply to gatepass have a test proving the documented behaviour instead; the
reasons are in docs/security.md.

Two servers run for the whole module: ``server`` (generous login limit, DEBUG logs
captured) and ``strict`` (login limit 3/minute and second-scale lifetimes for the
timeout and throttling items); the account-wide cap's item starts its own, with
``--account-limit 5/hour``. Requests may come from any 127.0.0.0/8 address, which the
server takes as the client address, so throttling is tested from several "machines".
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import re
import secrets
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepass._utils import b64url_decode, constant_time_equals, hash_token
from gatepass.authenticator import Authenticator
from gatepass.config import PasswordSettings
from gatepass.errors import (
    GatepassError,
    InvalidCredentials,
    ReauthenticationRequired,
    RefreshTokenReused,
    SessionExpired,
    SessionNotFound,
    TokenError,
    TokenExpired,
    TokenRevoked,
    WeakPassword,
)
from gatepass.passwords import Argon2Hasher, check_password_policy, common_passwords
from gatepass.server.routes import all_routes
from gatepass.server.routes.pages import safe_next
from gatepass.server.settings import ServerSettings
from gatepass.stores.base import PURGE_MARGIN, UserRecord
from gatepass.transports.base import Credential
from gatepass.transports.csrf import make_csrf_token, new_csrf_secret, verify_csrf_token
from tests.conftest import FAST_PASSWORDS, FakeClock
from tests.security._server import (
    PASSWORD,
    Browser,
    Server,
    bearer,
    error_code,
    inprocess,
    json_of,
    login,
    parse_set_cookie,
    register,
    set_cookies,
)

SESSION = "__Host-gp_session"
ACCESS = "__Host-gp_access"
REFRESH = "__Host-gp_refresh"
CSRF_COOKIE = "__Host-gp_csrf"
PRELOGIN = "__Host-gp_prelogin"
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')
_SRC = Path(__file__).resolve().parents[2] / "src" / "gatepass"


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A secure-mode server for the whole module, every log line captured."""
    proc = Server(
        tmp_path_factory.mktemp("catalogue"), "--login-limit", "1000/minute", debug_logs=True
    )
    yield from proc.running()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with login limit 3/minute and lifetimes of seconds."""
    proc = Server(
        tmp_path_factory.mktemp("strict"),
        "--login-limit", "3/minute",
        "--session-idle-ttl", "2", "--session-absolute-ttl", "4",
        "--refresh-ttl", "3", "--access-ttl", "2", "--leeway", "0",
    )  # fmt: skip
    yield from proc.running()


def email(tag: str) -> str:
    """A fresh email address for one test."""
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def session_user(server: Server, tag: str, source: str = "127.0.0.1") -> tuple[Browser, str]:
    """A registered user signed in with a session: (browser holding the cookies, csrf)."""
    browser = server.browser(source)
    address = email(tag)
    register(browser, address)
    body = login(browser, "/auth/session/login", address)
    assert SESSION in browser.jar
    return browser, str(body["csrf_token"])


def alive(browser: Browser, cookies: dict[str, str] | None = None) -> bool:
    """Whether the browser's (or these) cookies still authenticate /auth/me."""
    response = browser.get("/auth/me", cookies=cookies)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def db_rows(server: Server, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the running server's SQLite file."""
    with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def form_token(response: httpx.Response) -> str:
    """The hidden ``csrf_token`` of a rendered form."""
    match = _FORM_TOKEN.search(response.text)
    assert match is not None, response.text
    return match.group(1)


def assert_token_login_dead(client: Browser, tokens: dict[str, Any]) -> None:
    """The token login's access token is refused as revoked, and its refresh token too."""
    me = client.get("/auth/me", headers=bearer(tokens["access_token"]), cookies={})
    assert (401, "token_revoked") == error_code(me)
    refresh = client.post(
        "/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}, cookies={}
    )
    assert 401 == refresh.status_code


async def user_of(authenticator: Authenticator, address: str = "lib@example.com") -> UserRecord:
    """Register a user through the library."""
    return await authenticator.register(address, PASSWORD)


# -- S-01 session fixation -----------------------------------------------------------------


def test_s01_session_fixation(server: Server) -> None:
    """A login presenting session C0 gets a new id C1; C0 is dead afterwards, C1 works."""
    browser, _ = session_user(server, "s01")
    c0 = browser.jar[SESSION]
    assert alive(browser)  # positive control: C0 works before the second login
    address = browser.get("/auth/me").json()["email"]
    response = browser.post("/auth/session/login", json={"email": address, "password": PASSWORD})
    assert 200 == response.status_code
    c1 = set_cookies(response)[SESSION].value
    assert c0 != c1
    assert not alive(browser, {SESSION: c0})
    assert alive(browser, {SESSION: c1})


def test_s01_session_fixation_pages(server: Server) -> None:
    """The sign-in form also replaces a presented session and ends the pre-login cookie."""
    browser, _ = session_user(server, "s01p")
    c0 = browser.jar[SESSION]
    address = browser.get("/auth/me").json()["email"]
    page = browser.get("/login", cookies={})  # a fresh tab without the session
    token = form_token(page)
    prelogin = browser.jar[PRELOGIN]
    response = browser.post(
        "/login",
        data={"email": address, "password": PASSWORD, "csrf_token": token},
        cookies={PRELOGIN: prelogin, SESSION: c0},
        headers={"Origin": server.origin},
    )
    assert 303 == response.status_code
    cookies = set_cookies(response)
    assert c0 != cookies[SESSION].value
    assert cookies[PRELOGIN].deletes
    assert not alive(browser, {SESSION: c0})
    assert alive(browser, {SESSION: cookies[SESSION].value})


@pytest.mark.anyio
async def test_s01_session_fixation_library(authenticator: Authenticator) -> None:
    """login_session(replaces=old) issues a fresh id and ends the old one; rotate does too."""
    user = await user_of(authenticator)
    first = await authenticator.login_session(user)
    second = await authenticator.login_session(user, replaces=first.session_id)
    assert first.session_id != second.session_id
    with pytest.raises(SessionNotFound):
        await authenticator.authenticate([Credential("session_cookie", first.session_id)])
    principal = await authenticator.authenticate([Credential("session_cookie", second.session_id)])
    assert user.id == principal.user_id
    rotated = await authenticator.sessions.rotate(second.session_id)  # privilege change
    with pytest.raises(SessionNotFound):
        await authenticator.sessions.load(second.session_id)
    assert principal.sid == (await authenticator.sessions.load(rotated)).sid


def test_s01b_unknown_session_id_is_never_adopted(server: Server) -> None:
    """A well-formed session id the server never issued is refused and never adopted."""
    browser = server.browser()
    address = email("s01b")
    register(browser, address)
    planted = secrets.token_urlsafe(32)
    assert not alive(browser, {SESSION: planted})
    response = browser.post(
        "/auth/session/login",
        json={"email": address, "password": PASSWORD},
        cookies={SESSION: planted},
    )
    assert 200 == response.status_code
    issued = set_cookies(response)[SESSION].value
    assert planted != issued
    assert not alive(browser, {SESSION: planted})
    assert alive(browser, {SESSION: issued})  # positive control


@pytest.mark.anyio
async def test_s01b_unknown_session_id_is_never_adopted_library(
    authenticator: Authenticator,
) -> None:
    """SessionManager.load never creates a session for an unknown id (strict mode)."""
    user = await user_of(authenticator)
    planted = secrets.token_urlsafe(32)
    with pytest.raises(SessionNotFound):
        await authenticator.sessions.load(planted)
    login_ = await authenticator.login_session(user, replaces=planted)
    assert planted != login_.session_id
    with pytest.raises(SessionNotFound):
        await authenticator.sessions.load(planted)
    assert user.id == (await authenticator.sessions.load(login_.session_id)).user_id


# -- S-02 entropy --------------------------------------------------------------------------


_B64URL_43 = re.compile(r"[A-Za-z0-9_-]{43}")


def test_s02_session_ids_over_http_are_unique_256_bit(server: Server) -> None:
    """Session cookies from 10 logins are distinct 43-char base64url values (256 bits)."""
    browser = server.browser()
    address = email("s02")
    register(browser, address)
    values = set()
    for _ in range(10):
        response = browser.post(
            "/auth/session/login", json={"email": address, "password": PASSWORD}, cookies={}
        )
        values.add(set_cookies(response)[SESSION].value)
    assert 10 == len(values)
    assert all(_B64URL_43.fullmatch(v) for v in values)


@pytest.mark.anyio
async def test_s02_identifiers_are_unique_and_long_library(authenticator: Authenticator) -> None:
    """10^4 session ids, CSRF tokens and refresh secrets: all unique, >= 128 bits each."""
    user = await user_of(authenticator)
    n = 10_000
    ids = [(await authenticator.sessions.create(user.id)).session_id for _ in range(n)]
    csrf = [make_csrf_token(new_csrf_secret()) for _ in range(n)]
    refresh = [(await authenticator.refresh_tokens.start(user.id)).token for _ in range(n)]
    jtis = [authenticator.access.issue(user.id, "sid").jti for _ in range(1000)]
    assert n == len(set(ids)) == len(set(csrf)) == len(set(refresh))
    assert 1000 == len(set(jtis))
    assert all(_B64URL_43.fullmatch(i) for i in ids)  # 32 bytes
    assert all(len(c.split(".")[0]) == 22 for c in csrf)  # 16-byte nonce + 32-byte MAC
    family, secret = refresh[0].split(".")
    assert (22, 43) == (len(family), len(secret))  # 128-bit public id, 256-bit secret
    assert all(len(j) >= 22 for j in jtis)


def test_s02_only_the_os_csprng_makes_secrets() -> None:
    """Code review as a test: no module of gatepass imports ``random`` or calls uuid1/uuid4
    for anything but user ids."""
    offenders = []
    for path in sorted(_SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                names = [a.name for a in node.names]
                if module == "random" or "random" in names:
                    offenders.append(f"{path.name}:{node.lineno} imports random")
            if isinstance(node, ast.Attribute) and node.attr in ("uuid1", "uuid3", "uuid5"):
                offenders.append(f"{path.name}:{node.lineno} uses {node.attr}")
    assert [] == offenders
    uuid4_users = {path.name for path in _SRC.rglob("*.py") if "uuid.uuid4()" in path.read_text()}
    assert uuid4_users <= {"authenticator.py"}  # the (non-secret) user id only


# -- S-03 malformed session ids ------------------------------------------------------------


def test_s03_malformed_session_ids(server: Server) -> None:
    """Empty, huge, SQL, path, non-ASCII and duplicated session cookies: 401, never 500."""
    browser, _ = session_user(server, "s03")
    valid = browser.jar[SESSION]
    hostile = ["", "A" * 10_240, "' OR '1'='1", "../../x", "ü" * 43, valid + "A", valid[:-1]]
    for value in hostile:
        cookie = f"{SESSION}={value}".encode()
        response = browser.http.get("/auth/me", headers={b"Cookie": cookie})
        assert (401, "invalid_token") == error_code(response), value[:40]
    # Two session cookies: the first wins (a planted one first is simply refused).
    response = browser.http.get(
        "/auth/me", headers={"Cookie": f"{SESSION}=' OR 1=1; {SESSION}={valid}"}
    )
    assert 401 == response.status_code
    two_headers = [("Cookie", f"{SESSION}=junk"), ("Cookie", f"{SESSION}={valid}")]
    assert 401 == browser.http.get("/auth/me", headers=two_headers).status_code
    response = browser.http.get("/auth/me", headers={"Cookie": f"{SESSION}={valid}; {SESSION}=x"})
    assert 200 == response.status_code  # positive control


@pytest.mark.anyio
async def test_s03_malformed_session_ids_library(authenticator: Authenticator) -> None:
    """SessionManager.load refuses malformed ids before any store lookup."""
    user = await user_of(authenticator)
    good = (await authenticator.login_session(user)).session_id
    for value in ["", "A" * 10_240, "' OR '1'='1", "../../x", "ü" * 43, "\x00" * 43]:
        with pytest.raises(SessionNotFound):
            await authenticator.sessions.load(value)
    assert user.id == (await authenticator.sessions.load(good)).user_id


# -- S-04 credentials in URLs --------------------------------------------------------------


def test_s04_credentials_in_url_or_body_are_ignored(server: Server) -> None:
    """Session ids and tokens in the query, a path parameter or a form body never log in."""
    browser, _ = session_user(server, "s04")
    sid = browser.jar[SESSION]
    tokens = login(browser, "/auth/token/login", browser.get("/auth/me").json()["email"])
    access = tokens["access_token"]
    anonymous = server.browser("127.0.0.4")
    for path in (
        f"/auth/me?session_id={sid}",
        f"/auth/me?{SESSION}={sid}",
        f"/auth/me;jsessionid={sid}",
        f"/auth/me?access_token={access}",
    ):
        response = anonymous.get(path)
        assert response.status_code in (401, 404), path
    response = anonymous.post(
        "/auth/logout-all", data={"access_token": access}, headers={"Origin": server.origin}
    )
    assert response.status_code in (401, 415)
    assert 200 == anonymous.get("/auth/me", headers=bearer(access)).status_code  # control
    assert 200 == anonymous.get("/auth/me", cookies={SESSION: sid}).status_code  # control


def test_s04_tokens_are_never_emitted_in_urls(server: Server) -> None:
    """No Location header of a login flow carries a session id, token or CSRF token."""
    browser = server.browser()
    address = email("s04l")
    register(browser, address)
    page = browser.get("/login?next=/account")
    response = browser.post(
        "/login",
        data={"email": address, "password": PASSWORD, "csrf_token": form_token(page),
              "next": "/account"},
        headers={"Origin": server.origin},
    )  # fmt: skip
    assert 303 == response.status_code
    location = response.headers["location"]
    assert "/account" == location
    for secret in browser.jar.values():
        assert secret not in location


# -- S-05 cookie attributes ----------------------------------------------------------------


def cookie_problems(cookie: Any, *, http_only: bool, persistent: bool) -> list[str]:
    """What is wrong with one auth ``Set-Cookie`` (empty when it follows CK-01..06)."""
    problems = []
    if not cookie.name.startswith("__Host-"):
        problems.append("no __Host- prefix")
    if not cookie.has("secure"):
        problems.append("not Secure")
    if http_only != cookie.has("httponly"):
        problems.append(f"HttpOnly should be {http_only}")
    if cookie.get("samesite") not in ("Lax", "Strict"):
        problems.append("SameSite not Lax/Strict")
    if cookie.get("path") != "/":
        problems.append("Path is not /")
    if cookie.has("domain"):
        problems.append("has Domain")
    if not persistent and (cookie.has("max-age") or cookie.has("expires")):
        problems.append("persistent")
    if len(cookie.name) + len(cookie.value) > 4096:
        problems.append("over 4096 bytes")
    return problems


def test_s05_cookie_attributes(server: Server) -> None:
    """Every auth cookie is __Host-, Secure, HttpOnly (not CSRF), SameSite, Path=/, no Domain."""
    assert cookie_problems(parse_set_cookie("sid=x"), http_only=True, persistent=False)  # control
    browser, _ = session_user(server, "s05")
    session_cookies = set_cookies(
        browser.post(
            "/auth/session/login",
            json={"email": browser.get("/auth/me").json()["email"], "password": PASSWORD},
        )
    )
    assert {SESSION, CSRF_COOKIE} == set(session_cookies)
    assert [] == cookie_problems(session_cookies[SESSION], http_only=True, persistent=False)
    assert [] == cookie_problems(session_cookies[CSRF_COOKIE], http_only=False, persistent=False)
    address = browser.get("/auth/me").json()["email"]
    response = browser.post(
        "/auth/token/login", json={"email": address, "password": PASSWORD, "transport": "cookie"}
    )
    token_cookies = set_cookies(response)
    assert {ACCESS, REFRESH, CSRF_COOKIE} == set(token_cookies)
    assert "Strict" == token_cookies[REFRESH].get("samesite")
    for name, http_only in ((ACCESS, True), (REFRESH, True), (CSRF_COOKIE, False)):
        assert [] == cookie_problems(token_cookies[name], http_only=http_only, persistent=True)
    assert 600 >= int(token_cookies[ACCESS].get("max-age") or "0") > 0  # <= access TTL
    assert 2_592_000 >= int(token_cookies[REFRESH].get("max-age") or "0") > 0
    prelogin = set_cookies(server.browser().get("/login"))[PRELOGIN]
    assert [] == cookie_problems(prelogin, http_only=True, persistent=False)
    # Logout deletes with the same name, Path and flags.
    jar = {SESSION: session_cookies[SESSION].value}
    csrf = session_cookies[CSRF_COOKIE].value  # the cookie is the login's CSRF token
    logout = browser.post("/auth/session/logout", headers=browser.csrf(csrf), cookies=jar)
    assert 204 == logout.status_code
    cleared = set_cookies(logout)
    assert {SESSION, CSRF_COOKIE} <= set(cleared)
    for name in (SESSION, CSRF_COOKIE):
        assert cleared[name].deletes
        assert "/" == cleared[name].get("path")
        assert cleared[name].has("secure")
        assert not cleared[name].has("domain")
        assert session_cookies[name].get("samesite") == cleared[name].get("samesite")


# -- S-06 CSRF -------------------------------------------------------------------------------


def test_s06_csrf_missing_or_invalid_token(server: Server) -> None:
    """Cookie-authenticated unsafe requests without the login's own CSRF token get 403."""
    alice, alice_csrf = session_user(server, "s06a")
    bob, bob_csrf = session_user(server, "s06b")
    address = alice.get("/auth/me").json()["email"]
    previous = alice_csrf
    relogin = alice.post("/auth/session/login", json={"email": address, "password": PASSWORD})
    alice_csrf = json_of(relogin)["csrf_token"]
    sid = alice.get("/auth/me").json()["auth"]["sid"]
    nonce, _, _ = alice_csrf.partition(".")
    forged_mac = nonce + "." + bob_csrf.partition(".")[2]
    bad_tokens: list[str | None] = [
        None,  # (a) none
        "",  # (b) empty
        make_csrf_token(new_csrf_secret()),  # (c) random, well-formed
        bob_csrf,  # (d) another user's
        previous,  # (e) the same user's previous session
        forged_mac,  # (g) MAC of another session's secret
        alice.jar[CSRF_COOKIE] + "x",
    ]
    targets = [
        ("POST", "/auth/token/exchange"),
        ("POST", "/auth/session/logout"),
        ("POST", "/auth/logout-all"),
        ("DELETE", f"/auth/sessions/{sid}"),
    ]
    for method, path in targets:
        for token in bad_tokens:
            headers = {"Origin": server.origin}
            if token is not None:
                headers["X-CSRF-Token"] = token
            # (f) the CSRF cookie is sent too (the jar holds it): a cookie alone never counts
            response = alice.request(method, path, headers=headers)
            assert (403, "csrf_failed") == error_code(response), (path, token)
    assert alive(alice)
    ok = alice.post("/auth/token/exchange", headers=alice.csrf(alice_csrf))  # positive control
    assert 200 == ok.status_code
    assert 204 == alice.post("/auth/logout-all", headers=alice.csrf(alice_csrf)).status_code
    assert not alive(alice)
    assert alive(bob)


def test_s06_csrf_token_cookie_transport(server: Server) -> None:
    """Token cookies: refresh, logout and logout-all need the login's CSRF token too."""
    browser = server.browser()
    address = email("s06t")
    register(browser, address)
    body = login(browser, "/auth/token/login", address, transport="cookie")
    other = login(server.browser(), "/auth/token/login", address, transport="cookie")
    refresh_before = browser.jar[REFRESH]
    for path in ("/auth/token/refresh", "/auth/token/logout", "/auth/logout-all"):
        for token in (None, "", other["csrf_token"], make_csrf_token(new_csrf_secret())):
            headers = {"Origin": server.origin}
            if token is not None:
                headers["X-CSRF-Token"] = token
            assert (403, "csrf_failed") == error_code(browser.post(path, headers=headers))
    assert refresh_before == browser.jar[REFRESH]  # nothing was spent
    ok = browser.post("/auth/token/refresh", headers=browser.csrf(body["csrf_token"]))
    assert 200 == ok.status_code
    assert refresh_before != browser.jar[REFRESH]


def test_s06c_cookie_tossing(server: Server) -> None:
    """A CSRF cookie planted by an attacker, echoed in the header, does not pass."""
    browser, csrf = session_user(server, "s06c")
    planted = make_csrf_token(new_csrf_secret())
    for name in (CSRF_COOKIE, "gp_csrf"):
        cookies = {**browser.jar, name: planted}
        response = browser.post(
            "/auth/token/exchange", headers=browser.csrf(planted), cookies=cookies
        )
        assert (403, "csrf_failed") == error_code(response)
    response = browser.post("/auth/token/exchange", headers=browser.csrf(csrf))
    assert 200 == response.status_code  # positive control


def test_s06c_cookie_tossing_library() -> None:
    """A token minted for another secret never verifies; one minted for this secret does."""
    mine, theirs = new_csrf_secret(), new_csrf_secret()
    assert not verify_csrf_token(mine, make_csrf_token(theirs))
    assert verify_csrf_token(mine, make_csrf_token(mine))


def test_s06d_safe_methods_change_nothing(server: Server) -> None:
    """Every GET/HEAD/OPTIONS route, and GET on unsafe routes, leaves the logins alone."""
    browser, csrf = session_user(server, "s06d")
    address = browser.get("/auth/me").json()["email"]
    login(browser, "/auth/token/login", address, transport="cookie")
    before = browser.get("/auth/sessions").json()["sessions"]
    sid = browser.get("/auth/me").json()["auth"]["sid"]
    paths: set[str] = set()
    for route in all_routes():
        path = getattr(route, "path", "")
        paths.add(path.replace("{id}", sid).replace("{sid}", sid) or "/")
    paths |= {"/static/app.js", "/logout", "/auth/session/logout"}
    jar = dict(browser.jar)
    for path in sorted(paths):
        for method in ("GET", "HEAD", "OPTIONS"):
            response = browser.request(method, path, cookies=jar)
            assert response.status_code < 500, (method, path)
    browser.jar = dict(jar)
    after = browser.get("/auth/sessions").json()["sessions"]
    assert [s["id"] for s in before] == [s["id"] for s in after]
    assert alive(browser, {SESSION: jar[SESSION]})
    assert alive(browser, {ACCESS: jar[ACCESS]})
    # positive control: the same logout as a POST with the token does end the session
    assert 204 == browser.post("/auth/session/logout", headers=browser.csrf(csrf)).status_code
    assert not alive(browser, {SESSION: jar[SESSION]})


def test_s06e_login_csrf(server: Server) -> None:
    """The sign-in form refuses posts without the pre-login token, from foreign origins."""
    victim = server.browser()
    address = email("s06e")
    register(victim, address)
    page = victim.get("/login")
    token, prelogin = form_token(page), victim.jar[PRELOGIN]
    attacker_page = server.browser("127.0.0.9").get("/login")
    attacker_token = form_token(attacker_page)
    form = {"email": address, "password": PASSWORD}
    attempts: list[tuple[dict[str, str], dict[str, str], dict[str, str]]] = [
        (form, {PRELOGIN: prelogin}, {"Origin": server.origin}),  # no token
        ({**form, "csrf_token": token}, {}, {"Origin": server.origin}),  # no pre-login cookie
        ({**form, "csrf_token": attacker_token}, {PRELOGIN: prelogin}, {}),  # foreign token
        ({**form, "csrf_token": token}, {PRELOGIN: prelogin}, {"Origin": "https://evil.example"}),
        ({**form, "csrf_token": token}, {PRELOGIN: prelogin}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    for data, cookies, headers in attempts:
        response = victim.post("/login", data=data, cookies=cookies, headers=headers)
        assert 403 == response.status_code, (data.keys(), cookies.keys(), headers)
        assert SESSION not in set_cookies(response)
    # The JSON login cannot be posted cross-site as a "simple" request either.
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = victim.http.post(
            "/auth/session/login",
            content=f'{{"email":"{address}","password":"{PASSWORD}"}}',
            headers={"Content-Type": content_type, "Origin": "https://evil.example"},
        )
        assert (415, "unsupported_media_type") == error_code(response)
        assert not response.headers.get_list("set-cookie")
    ok = victim.post(
        "/login",
        data={**form, "csrf_token": token},
        cookies={PRELOGIN: prelogin},
        headers={"Origin": server.origin},
    )
    assert 303 == ok.status_code  # positive control
    assert SESSION in set_cookies(ok)


def test_s06f_mixed_transport(server: Server) -> None:
    """A Bearer header wins over cookies; cookie-only unsafe requests still need CSRF."""
    alice, _ = session_user(server, "s06f")
    alice_jar = dict(alice.jar)
    bob = server.browser("127.0.0.5")
    bob_email = email("s06f-bob")
    register(bob, bob_email)
    bob_tokens = login(bob, "/auth/token/login", bob_email)
    origin = {"Origin": server.origin}
    response = alice.post("/auth/logout-all", headers={**origin, **bearer("not.a.jwt")})
    assert (401, "invalid_token") == error_code(response)
    assert (403, "csrf_failed") == error_code(alice.post("/auth/logout-all", headers=origin))
    assert alive(alice)
    # Bob's Bearer with Alice's cookies and no CSRF token: acts for Bob only.
    response = alice.post(
        "/auth/logout-all", headers={**origin, **bearer(bob_tokens["access_token"])}
    )
    assert 204 == response.status_code
    assert alive(alice, alice_jar)  # the response clears the browser's cookies, no more
    revoked = bob.get("/auth/me", headers=bearer(bob_tokens["access_token"]))
    assert (401, "token_revoked") == error_code(revoked)
    fresh = login(bob, "/auth/token/login", bob_email)
    assert 204 == bob.post("/auth/logout-all", headers=bearer(fresh["access_token"])).status_code


# -- S-07 Origin, Referer, fetch metadata, simple requests ---------------------------------


def test_s07_origin_and_referer(server: Server) -> None:
    """Unsafe cookie requests with a foreign Origin or Referer get 403; exact origin passes."""
    browser, csrf = session_user(server, "s07")
    port = server.port
    bad_origins = [
        "https://evil.example",
        f"https://127.0.0.1:{port}.evil.example",
        f"https://127.0.0.1:{port + 1}",
        f"http://127.0.0.1:{port}",
        "null",
    ]
    for origin in bad_origins:
        response = browser.post("/auth/token/exchange", headers=browser.csrf(csrf, origin))
        assert (403, "csrf_failed") == error_code(response), origin
    for referer in ("https://evil.example/page", f"https://127.0.0.1:{port}.evil.example/"):
        response = browser.post(
            "/auth/token/exchange", headers={"X-CSRF-Token": csrf, "Referer": referer}
        )
        assert (403, "csrf_failed") == error_code(response), referer
    allowed = [
        browser.csrf(csrf),
        {"X-CSRF-Token": csrf, "Referer": f"{server.origin}/account"},
        {"X-CSRF-Token": csrf},  # neither header: the token alone decides (documented)
    ]
    for headers in allowed:
        assert 200 == browser.post("/auth/token/exchange", headers=headers).status_code


def test_s07b_fetch_metadata(server: Server) -> None:
    """Sec-Fetch-Site: cross-site is refused first; same-origin passes; absent falls back."""
    browser, csrf = session_user(server, "s07b")
    cases = [
        ("cross-site", server.origin, 403),
        ("same-site", "https://sibling.example", 403),
        ("same-origin", server.origin, 200),
        (None, "https://evil.example", 403),
        (None, server.origin, 200),
    ]
    for site, origin, status in cases:
        headers = browser.csrf(csrf, origin)
        if site is not None:
            headers["Sec-Fetch-Site"] = site
        assert status == browser.post("/auth/token/exchange", headers=headers).status_code


def test_s07c_simple_requests_and_cors(server: Server) -> None:
    """JSON endpoints refuse simple content types; no CORS header ever grants an origin."""
    browser, csrf = session_user(server, "s07c")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = browser.post(
            "/auth/logout-all",
            content=b"{}",
            headers={**browser.csrf(csrf), "Content-Type": content_type},
        )
        assert (415, "unsupported_media_type") == error_code(response)
    assert alive(browser)
    preflight = browser.request(
        "OPTIONS",
        "/auth/logout-all",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token, content-type",
        },
    )
    me = browser.get("/auth/me", headers={"Origin": "https://evil.example"})
    for response in (preflight, me):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers
    assert 204 == browser.post("/auth/logout-all", headers=browser.csrf(csrf)).status_code


# -- S-08 and S-16 timeouts (real time, lifetimes of seconds) --------------------------------


@pytest.fixture(scope="module")
def timeline(strict: Server) -> dict[str, Any]:
    """Sessions A (idle) and B (active), token family C, observed at t = 1.2, 2.5, 4.3 s.

    Server settings: idle 2 s, absolute 4 s, refresh family 3 s, access token 2 s.
    """
    address = email("s08")
    a, b, c = strict.browser(), strict.browser(), strict.browser()
    register(a, address)
    login(a, "/auth/session/login", address)
    login(b, "/auth/session/login", address)
    tokens = login(c, "/auth/token/login", address)
    t0 = time.monotonic()
    seen: dict[str, Any] = {"tokens": [tokens]}

    def wait_until(t: float) -> None:
        time.sleep(max(0.0, t0 + t - time.monotonic()))

    def refresh() -> httpx.Response:
        response = c.post(
            "/auth/token/refresh", json={"refresh_token": seen["tokens"][-1]["refresh_token"]}
        )
        if response.status_code == 200:
            seen["tokens"].append(json_of(response))
        return response

    wait_until(1.2)
    seen["1.2"] = {"B": b.get("/auth/me"), "C": refresh()}
    wait_until(2.5)
    seen["2.5"] = {
        "A": a.get("/auth/me"),
        "B": b.get("/auth/me"),
        "AT0": c.get("/auth/me", headers=bearer(tokens["access_token"])),
        "C": refresh(),
    }
    wait_until(4.3)
    seen["4.3"] = {"B": b.get("/auth/me"), "C": refresh()}
    seen["relogin"] = c.post("/auth/token/login", json={"email": address, "password": PASSWORD})
    return seen


def test_s08_session_idle_and_absolute_timeouts(timeline: dict[str, Any]) -> None:
    """Idle 2 s kills an unused session; activity keeps one alive until the 4 s absolute."""
    assert 200 == timeline["1.2"]["B"].status_code
    assert (401, "session_expired") == error_code(timeline["2.5"]["A"])  # idle
    assert 200 == timeline["2.5"]["B"].status_code  # 2.5 s > idle, kept alive by use
    assert (401, "session_expired") == error_code(timeline["4.3"]["B"])  # absolute
    assert (401, "token_expired") == error_code(timeline["2.5"]["AT0"])


@pytest.mark.anyio
async def test_s08_timeouts_library(authenticator: Authenticator, clock: FakeClock) -> None:
    """FakeClock: 30 min idle timeout, sliding expiry, then the 12 h absolute lifetime."""
    user = await user_of(authenticator)
    idle = await authenticator.login_session(user)
    busy = await authenticator.login_session(user)
    clock.advance(29 * 60)
    await authenticator.sessions.load(idle.session_id)  # positive control, 29 min
    await authenticator.sessions.load(busy.session_id)
    clock.advance(15 * 60)
    await authenticator.sessions.load(busy.session_id)
    clock.advance(16 * 60)  # idle: 31 min since its last use
    with pytest.raises(SessionExpired) as idle_death:
        await authenticator.sessions.load(idle.session_id)
    assert "idle" == idle_death.value.reason
    busy_login = busy.session.record.created_at
    while clock() + 29 * 60 < busy_login + 12 * 3600:
        await authenticator.sessions.load(busy.session_id)  # each use within 30 min
        clock.advance(29 * 60)
    await authenticator.sessions.load(busy.session_id)  # alive: 11 h 48 min, used just now
    clock.advance(29 * 60)
    with pytest.raises(SessionExpired) as absolute_death:
        await authenticator.sessions.load(busy.session_id)
    assert "absolute" == absolute_death.value.reason


# -- S-09 caching ----------------------------------------------------------------------------


def test_s09_no_store_on_credentials(server: Server) -> None:
    """Every response that sets a credential cookie or carries a token is no-store."""
    browser = server.browser()
    address = email("s09")
    register(browser, address)
    responses = [
        browser.post("/auth/session/login", json={"email": address, "password": PASSWORD}),
        browser.post("/auth/token/login", json={"email": address, "password": PASSWORD}),
        browser.post(
            "/auth/token/login",
            json={"email": address, "password": PASSWORD, "transport": "cookie"},
        ),
    ]
    bearer_body = json_of(responses[1])
    responses.append(
        browser.post("/auth/token/refresh", json={"refresh_token": bearer_body["refresh_token"]})
    )
    csrf = json_of(responses[0])["csrf_token"]
    responses.append(browser.post("/auth/token/exchange", headers=browser.csrf(csrf)))
    cookie_csrf = json_of(responses[2])["csrf_token"]
    responses.append(browser.post("/auth/token/refresh", headers=browser.csrf(cookie_csrf)))
    page_browser = server.browser()
    page = page_browser.get("/login")
    responses.append(page)
    responses.append(
        page_browser.post(
            "/login",
            data={"email": address, "password": PASSWORD, "csrf_token": form_token(page)},
            headers={"Origin": server.origin},
        )
    )
    responses.append(browser.post("/auth/session/logout", headers=browser.csrf(csrf)))
    with_credentials = 0
    for response in responses:
        assert response.status_code < 400, response.text
        carries = bool(response.headers.get_list("set-cookie")) or "access_token" in response.text
        with_credentials += carries
        assert "no-store" in response.headers.get("cache-control", ""), response.request.url
    assert len(responses) == with_credentials  # positive control: none was vacuous


# -- S-10 logout -----------------------------------------------------------------------------


def test_s10_logout_invalidates_server_side(server: Server) -> None:
    """After logout a copied session cookie, access token or refresh token fails anywhere."""
    browser, csrf = session_user(server, "s10")
    address = browser.get("/auth/me").json()["email"]
    copied = browser.jar[SESSION]
    second = server.browser("127.0.0.6")
    assert alive(second, {SESSION: copied})  # positive control
    response = browser.post("/auth/session/logout", headers=browser.csrf(csrf))
    assert 204 == response.status_code
    assert set_cookies(response)[SESSION].deletes
    assert not alive(second, {SESSION: copied})
    assert [] == db_rows(server, "SELECT sid FROM sessions WHERE id_hash = ?", hash_token(copied))
    # Bearer family.
    tokens = login(browser, "/auth/token/login", address)
    assert 200 == second.get("/auth/me", headers=bearer(tokens["access_token"])).status_code
    assert (
        204
        == browser.post("/auth/token/logout", headers=bearer(tokens["access_token"])).status_code
    )
    me = second.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert (401, "token_revoked") == error_code(me)
    again = second.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert 401 == again.status_code
    family = tokens["refresh_token"].split(".")[0]
    assert [(1,)] == db_rows(server, "SELECT revoked FROM families WHERE family_id = ?", family)
    # Cookie family.
    body = login(browser, "/auth/token/login", address, transport="cookie")
    jar = {ACCESS: browser.jar[ACCESS], REFRESH: browser.jar[REFRESH]}
    assert alive(second, {ACCESS: jar[ACCESS]})
    assert (
        204
        == browser.post("/auth/token/logout", headers=browser.csrf(body["csrf_token"])).status_code
    )
    assert not alive(second, {ACCESS: jar[ACCESS]})
    response = second.post(
        "/auth/token/refresh", cookies=jar, headers=second.csrf(body["csrf_token"])
    )
    assert 401 == response.status_code


@pytest.mark.anyio
async def test_s10_logout_invalidates_server_side_library(authenticator: Authenticator) -> None:
    """Authenticator.logout deletes the stored session and revokes the token family."""
    user = await user_of(authenticator)
    session = await authenticator.login_session(user)
    principal = await authenticator.authenticate([Credential("session_cookie", session.session_id)])
    await authenticator.logout(principal)
    assert await authenticator.store.get_session(hash_token(session.session_id)) is None
    pair = await authenticator.login_tokens(user)
    jwt = await authenticator.authenticate([Credential("bearer", pair.access_token)])
    await authenticator.logout(jwt)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate([Credential("bearer", pair.access_token)])
    with pytest.raises(TokenRevoked):
        await authenticator.refresh(pair.refresh_token)


# -- S-11 account-wide termination -------------------------------------------------------


def test_s11_logout_all_ends_every_login_of_the_user(server: Server) -> None:
    """logout-all ends the user's sessions, bearer and cookie families; others unaffected."""
    browser, csrf = session_user(server, "s11")
    address = browser.get("/auth/me").json()["email"]
    session_cookie = browser.jar[SESSION]
    tokens = login(server.browser(), "/auth/token/login", address)
    other, _ = session_user(server, "s11-other")
    assert 204 == browser.post("/auth/logout-all", headers=browser.csrf(csrf)).status_code
    assert not alive(other, {SESSION: session_cookie})
    assert_token_login_dead(other, tokens)
    assert alive(other)  # positive control: another user's session lives on


NEW_PASSWORD = "a different long passphrase"


@pytest.fixture(scope="module")
def reauth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose re-authentication window is 0: every login counts as old."""
    proc = Server(
        tmp_path_factory.mktemp("reauth"), "--login-limit", "3/minute", "--reauth-window", "0"
    )
    yield from proc.running()


def test_s11_password_change_ends_every_other_login(server: Server) -> None:
    """POST /auth/password ends the user's other sessions, token families and their access
    tokens; this login stays; only the new password signs in; other users unaffected."""
    browser, csrf = session_user(server, "s11p")
    address = browser.get("/auth/me").json()["email"]
    tokens = login(server.browser(), "/auth/token/login", address)
    second = server.browser()
    login(second, "/auth/session/login", address)
    bystander, _ = session_user(server, "s11p-other")
    old_id = browser.jar[SESSION]
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = browser.post("/auth/password", json=change, headers=browser.csrf(csrf))
    assert 204 == response.status_code, response.text
    assert alive(browser)  # this login stays, under a new session id (SES-03)
    assert old_id != browser.jar[SESSION]
    assert not alive(bystander, {SESSION: old_id})
    assert [browser.get("/auth/me").json()["auth"]["sid"]] == [
        s["id"] for s in browser.get("/auth/sessions").json()["sessions"] if s["current"]
    ]
    assert not alive(second)
    assert_token_login_dead(bystander, tokens)
    assert 401 == login_status(server.browser(), address, PASSWORD)
    assert 200 == login_status(server.browser(), address, NEW_PASSWORD)
    assert alive(bystander)  # positive control: another user's session lives on
    audit = db_rows(server, "SELECT detail FROM audit WHERE action = 'password.change'")
    assert ("ended 2 other logins",) in audit


def test_s11_password_change_by_bearer_keeps_its_own_family(server: Server) -> None:
    """A token login may change the password too (no CSRF for Bearer); its refresh
    token keeps working, the session of the same user does not."""
    browser, _ = session_user(server, "s11b")
    address = browser.get("/auth/me").json()["email"]
    client = server.browser()
    tokens = login(client, "/auth/token/login", address)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = client.post(
        "/auth/password", json=change, headers=bearer(tokens["access_token"]), cookies={}
    )
    assert 204 == response.status_code, response.text
    assert not alive(browser)
    refreshed = client.post(
        "/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}, cookies={}
    )
    assert 200 == refreshed.status_code, refreshed.text


def test_s11_disabled_account_ends_every_login(server: Server) -> None:
    """`gatepass users disable` on the running server's store ends the user's sessions,
    bearer tokens and refresh tokens, and refuses logins; `enable` lets them in again."""
    browser, _ = session_user(server, "s11d")
    address = browser.get("/auth/me").json()["email"]
    tokens = login(server.browser(), "/auth/token/login", address)
    bystander, _ = session_user(server, "s11d-other")

    def users(action: str) -> dict[str, Any]:
        argv = [sys.executable, "-m", "gatepass", "users", action, "--email", address]
        done = subprocess.run(
            [*argv, "--store", server.store_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")},
        )
        assert 0 == done.returncode, done.stderr
        result = json.loads(done.stdout)
        assert isinstance(result, dict)
        return result

    assert {"disabled": True, "email": address, "ended": 2} == {
        k: v for k, v in users("disable").items() if k != "id"
    }
    deadline = time.monotonic() + 5.0  # the server's revocation feed follows the store
    while alive(browser) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(browser)
    assert_token_login_dead(bystander, tokens)
    assert 401 == login_status(server.browser(), address, PASSWORD)
    assert alive(bystander)  # positive control
    users("enable")
    assert 200 == login_status(server.browser(), address, PASSWORD)


@pytest.mark.anyio
async def test_s11_disabled_account_and_admin_termination_library(
    authenticator: Authenticator,
) -> None:
    """set_disabled ends every login and refuses logins; a login that raced with it (its
    password checked before, its record made after) is ended too; enable undoes it."""
    user = await user_of(authenticator)
    session = await authenticator.login_session(user)
    pair = await authenticator.login_tokens(user)
    checked = await authenticator.verify_password(user.email, PASSWORD)  # before the flag
    await authenticator.set_disabled(user.id, True)
    with pytest.raises(SessionNotFound):
        await authenticator.authenticate([Credential("session_cookie", session.session_id)])
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate([Credential("bearer", pair.access_token)])
    with pytest.raises(InvalidCredentials):
        await authenticator.verify_password(user.email, PASSWORD)
    with pytest.raises(InvalidCredentials):  # the racing login
        await authenticator.login_session(checked)
    with pytest.raises(InvalidCredentials):
        await authenticator.login_tokens(checked)
    assert [] == await authenticator.list_logins(user.id)
    with pytest.raises(ReauthenticationRequired):
        await authenticator.reauthenticate(user.id, PASSWORD)
    await authenticator.set_disabled(user.id, False)
    again = await authenticator.verify_password(user.email, PASSWORD)
    assert 1 == len([await authenticator.login_session(again)])
    assert 1 == len(await authenticator.list_logins(user.id))


@pytest.mark.anyio
async def test_s11_password_change_library(authenticator: Authenticator) -> None:
    """change_password checks the current password and the policy, then ends the other
    logins (or not, when asked); the principal's own login stays."""
    user = await user_of(authenticator)
    mine = await authenticator.login_session(user)
    other = await authenticator.login_tokens(user)
    principal = await authenticator.authenticate([Credential("session_cookie", mine.session_id)])
    with pytest.raises(ReauthenticationRequired):
        await authenticator.change_password(principal, "not the password", NEW_PASSWORD)
    with pytest.raises(WeakPassword):
        await authenticator.change_password(principal, PASSWORD, "password")
    assert 2 == len(await authenticator.list_logins(user.id))  # nothing changed yet
    raced = await authenticator.verify_password(user.email, PASSWORD)  # before the change
    assert 1 == await authenticator.change_password(principal, PASSWORD, NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):  # a login that raced with the change is ended
        await authenticator.login_session(raced)
    with pytest.raises(InvalidCredentials):
        await authenticator.login_tokens(raced)
    assert [mine.session.record.sid] == [x.id for x in await authenticator.list_logins(user.id)]
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate([Credential("bearer", other.access_token)])
    with pytest.raises(InvalidCredentials):
        await authenticator.verify_password(user.email, PASSWORD)
    again = await authenticator.verify_password(user.email, NEW_PASSWORD)
    await authenticator.login_tokens(again)
    kept = await authenticator.change_password(
        principal, NEW_PASSWORD, PASSWORD, end_other_logins=False
    )
    assert 0 == kept
    assert 2 == len(await authenticator.list_logins(user.id))


# -- S-12 concurrent sessions --------------------------------------------------------------


def test_s12_concurrent_sessions_policy(server: Server) -> None:
    """Unlimited concurrent logins, each listed; one can be ended; logout-all ends all."""
    browser = server.browser()
    address = email("s12")
    register(browser, address)
    jars = []
    for _ in range(25):
        response = browser.post(
            "/auth/session/login", json={"email": address, "password": PASSWORD}, cookies={}
        )
        cookies = set_cookies(response)
        jars.append({SESSION: cookies[SESSION].value, CSRF_COOKIE: cookies[CSRF_COOKIE].value})
    assert all(alive(browser, jar) for jar in jars)
    listed = browser.get("/auth/sessions", cookies=jars[0]).json()["sessions"]
    assert 25 == len(listed)
    assert 1 == sum(s["current"] for s in listed)
    victim = next(s["id"] for s in listed if not s["current"])
    csrf = jars[0][CSRF_COOKIE]
    response = browser.delete(
        f"/auth/sessions/{victim}", cookies=jars[0], headers=browser.csrf(csrf)
    )
    assert 204 == response.status_code
    assert 24 == sum(alive(browser, jar) for jar in jars)
    assert (
        204
        == browser.post("/auth/logout-all", cookies=jars[0], headers=browser.csrf(csrf)).status_code
    )
    assert 0 == sum(alive(browser, jar) for jar in jars)


def test_s12_ending_other_logins_needs_reauth_outside_the_window(
    reauth_server: Server,
) -> None:
    """With the window at 0, ending another login or every login needs the password
    (wrong or missing: 403 reauth_required, nothing ended); ending one's own does not."""
    server = reauth_server
    browser, csrf = session_user(server, "s12r", source="127.0.0.7")
    address = browser.get("/auth/me").json()["email"]
    other = server.browser("127.0.0.7")
    login(other, "/auth/session/login", address)
    listed = browser.get("/auth/sessions").json()["sessions"]
    victim = next(s["id"] for s in listed if not s["current"])
    headers = browser.csrf(csrf)
    for body in (None, {"password": "not the password"}):
        refused = browser.delete(f"/auth/sessions/{victim}", json=body, headers=headers)
        assert (403, "reauth_required") == error_code(refused)
        refused = browser.post("/auth/logout-all", json=body, headers=headers)
        assert (403, "reauth_required") == error_code(refused)
        assert alive(other)
        assert alive(browser)
    old_id = browser.jar[SESSION]
    ended = browser.delete(f"/auth/sessions/{victim}", json={"password": PASSWORD}, headers=headers)
    assert 204 == ended.status_code, ended.text
    assert old_id != browser.jar[SESSION]  # re-authenticated: a new session id (SES-03)
    assert not alive(other, {SESSION: old_id})
    assert not alive(other)
    assert alive(browser)
    login(other, "/auth/session/login", address)
    ended = browser.post("/auth/logout-all", json={"password": PASSWORD}, headers=headers)
    assert 204 == ended.status_code, ended.text
    assert not alive(other)
    assert not alive(browser)
    third = server.browser("127.0.0.7")
    mine = login(third, "/auth/session/login", address)
    own = third.delete(
        f"/auth/sessions/{mine['session_id']}", headers=third.csrf(str(mine["csrf_token"]))
    )
    assert 204 == own.status_code  # ending one's own login is a logout: no password
    audit = db_rows(server, "SELECT outcome FROM audit WHERE action = 'reauth'")
    assert {("failed",), ("ok",)} == set(audit)


def test_s12_reauth_guesses_are_throttled(reauth_server: Server) -> None:
    """Wrong re-authentication passwords count as failed logins: after the limit (3), even
    the right password is refused with 429 until the window passes: a stolen cookie is no
    better a password oracle than the login form."""
    server = reauth_server
    browser, csrf = session_user(server, "s12t", source="127.0.0.8")
    headers = browser.csrf(csrf)
    for _ in range(3):
        wrong = browser.post("/auth/logout-all", json={"password": "guess"}, headers=headers)
        assert (403, "reauth_required") == error_code(wrong)
    refused = browser.post("/auth/logout-all", json={"password": PASSWORD}, headers=headers)
    assert (429, "rate_limited") == error_code(refused)
    assert int(refused.headers["retry-after"]) > 0
    assert alive(browser)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    refused = browser.post("/auth/password", json=change, headers=headers)
    assert (429, "rate_limited") == error_code(refused)


def test_s12_reauth_pages(reauth_server: Server) -> None:
    """On the pages, revoking another login or signing out everywhere from an old
    session shows a "Confirm it's you" form; with the password it goes through."""
    server = reauth_server
    browser, _ = session_user(server, "s12p", source="127.0.0.9")
    address = browser.get("/auth/me").json()["email"]
    other = server.browser("127.0.0.9")
    login(other, "/auth/session/login", address)
    account = browser.get("/account")
    token = form_token(account)
    victim = next(
        s["id"] for s in browser.get("/auth/sessions").json()["sessions"] if not s["current"]
    )
    path = f"/account/sessions/{victim}/revoke"
    form = {"Origin": browser.origin, "Content-Type": "application/x-www-form-urlencoded"}
    asked = browser.post(path, content=f"csrf_token={token}", headers=form)
    assert 403 == asked.status_code
    assert "Confirm it" in asked.text
    assert f'action="{path}"' in asked.text
    assert alive(other)
    wrong = browser.post(path, content=f"csrf_token={token}&password=nope", headers=form)
    assert "That password is not right." in wrong.text
    assert alive(other)
    done = browser.post(
        path, content=f"csrf_token={form_token(asked)}&password={PASSWORD}", headers=form
    )
    assert (303, "/account") == (done.status_code, done.headers["location"])
    assert not alive(other)
    assert alive(browser)
    asked = browser.post("/logout-all", content=f"csrf_token={token}", headers=form)
    assert 403 == asked.status_code
    assert 'action="/logout-all"' in asked.text
    assert alive(browser)


def test_s12_password_change_page(server: Server) -> None:
    """The account page's form changes the password and signs the other devices out;
    a wrong current password or a weak new one changes nothing (fixed messages)."""
    browser, _ = session_user(server, "s12c")
    address = browser.get("/auth/me").json()["email"]
    other = server.browser()
    login(other, "/auth/session/login", address)
    token = form_token(browser.get("/account"))
    form = {"Origin": browser.origin, "Content-Type": "application/x-www-form-urlencoded"}

    def change(current: str, new: str) -> str:
        body = f"csrf_token={token}&current_password={current}&new_password={new}"
        response = browser.post("/account/password", content=body, headers=form)
        assert 303 == response.status_code, response.text
        return str(response.headers["location"])

    assert "/account?error=wrong-password" == change("wrong-password", "another-passphrase")
    assert "/account?error=weak-password" == change(PASSWORD.replace(" ", "+"), "password")
    assert alive(other)
    assert "Nothing was changed" in browser.get("/account?error=weak-password").text
    old_id = browser.jar[SESSION]
    assert "/account?notice=password-changed" == change(
        PASSWORD.replace(" ", "+"), "another-passphrase"
    )
    assert not alive(other)
    assert alive(browser)
    assert old_id != browser.jar[SESSION]  # a new session id (SES-03)
    assert not alive(other, {SESSION: old_id})
    assert (
        "Every other device was signed out" in browser.get("/account?notice=password-changed").text
    )
    assert 200 == login_status(server.browser(), address, "another-passphrase")


def test_s13_session_id_guessing_is_refused_without_lockout(server: Server) -> None:
    """200 random 256-bit ids: all 401 (no detection, documented); a real one still works."""
    browser, _ = session_user(server, "s13")
    for _ in range(200):
        response = browser.get("/auth/me", cookies={SESSION: secrets.token_urlsafe(32)})
        assert 401 == response.status_code
    assert alive(browser)  # no lockout of the legitimate session from the same address


# -- S-14 denylist ---------------------------------------------------------------------------


def test_s14_denylist_is_checked_on_every_verify(server: Server) -> None:
    """A verified (hence cached) access token is refused right after its login is revoked."""
    browser = server.browser()
    address = email("s14")
    register(browser, address)
    tokens = login(browser, "/auth/token/login", address)
    for _ in range(3):  # verified and cached
        assert 200 == browser.get("/auth/me", headers=bearer(tokens["access_token"])).status_code
    sid = browser.get("/auth/me", headers=bearer(tokens["access_token"])).json()["auth"]["sid"]
    other = login(browser, "/auth/token/login", address)
    response = browser.delete(f"/auth/sessions/{sid}", headers=bearer(other["access_token"]))
    assert 204 == response.status_code
    refused = browser.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert (401, "token_revoked") == error_code(refused)
    assert 200 == browser.get("/auth/me", headers=bearer(other["access_token"])).status_code


@pytest.mark.anyio
async def test_s14_denylist_entries_expire_library(
    authenticator: Authenticator, clock: FakeClock
) -> None:
    """Revocations last as long as the tokens they cover, then are pruned and purged."""
    user = await user_of(authenticator)
    pair = await authenticator.login_tokens(user)
    principal = await authenticator.authenticate([Credential("bearer", pair.access_token)])
    await authenticator.logout(principal)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate([Credential("bearer", pair.access_token)])
    log = await authenticator.store.revocations_since(0)
    assert log
    assert all(e.expires_at <= clock() + authenticator.token_settings.refresh_ttl for e in log)
    clock.advance(authenticator.token_settings.refresh_ttl + 1)
    with pytest.raises(TokenExpired):  # past exp: expired, whatever the denylist says
        await authenticator.authenticate([Credential("bearer", pair.access_token)])
    assert authenticator.feed.revocations.prune(clock()) >= 1
    clock.advance(PURGE_MARGIN + 1)
    assert await authenticator.store.purge_expired(clock()) >= 1
    assert [] == await authenticator.store.revocations_since(0)


# -- S-15..S-18 refresh tokens -------------------------------------------------------------


def test_s15_refresh_reuse_revokes_the_family(server: Server) -> None:
    """RT1 -> RT2 -> RT3; replaying RT1 revokes the family: RT3 and every AT refused."""
    browser = server.browser()
    address = email("s15")
    register(browser, address)
    first = login(browser, "/auth/token/login", address)
    second = json_of(
        browser.post("/auth/token/refresh", json={"refresh_token": first["refresh_token"]})
    )
    third = json_of(
        browser.post("/auth/token/refresh", json={"refresh_token": second["refresh_token"]})
    )
    assert 200 == browser.get("/auth/me", headers=bearer(third["access_token"])).status_code
    replay = browser.post("/auth/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert (401, "refresh_reused") == error_code(replay)
    for token in (first, second, third):
        me = browser.get("/auth/me", headers=bearer(token["access_token"]))
        assert (401, "token_revoked") == error_code(me)
    after = browser.post("/auth/token/refresh", json={"refresh_token": third["refresh_token"]})
    assert (401, "token_revoked") == error_code(after)


@pytest.mark.anyio
async def test_s15_refresh_reuse_revokes_the_family_library(
    authenticator: Authenticator, clock: FakeClock
) -> None:
    """Past the grace window, the just-spent token counts as reuse too."""
    user = await user_of(authenticator)
    pair = await authenticator.login_tokens(user)
    newer = await authenticator.refresh(pair.refresh_token)
    clock.advance(authenticator.token_settings.refresh_grace + 1)
    with pytest.raises(RefreshTokenReused):
        await authenticator.refresh(pair.refresh_token)
    with pytest.raises(TokenRevoked):
        await authenticator.refresh(newer.refresh_token)
    with pytest.raises(TokenRevoked):
        await authenticator.authenticate([Credential("bearer", newer.access_token)])


def test_s16_refresh_absolute_lifetime(timeline: dict[str, Any]) -> None:
    """Rotations at 1.2 s and 2.5 s do not extend the 3 s family; at 4.3 s: re-login."""
    assert 200 == timeline["1.2"]["C"].status_code
    assert 200 == timeline["2.5"]["C"].status_code
    assert (401, "token_expired") == error_code(timeline["4.3"]["C"])
    assert 200 == timeline["relogin"].status_code


@pytest.mark.anyio
async def test_s16_refresh_absolute_lifetime_library(
    authenticator: Authenticator, clock: FakeClock
) -> None:
    """Rotating every day never outlives the 30-day family."""
    user = await user_of(authenticator)
    pair = await authenticator.login_tokens(user)
    token = pair.refresh_token
    for _ in range(29):
        clock.advance(86_400)
        token = (await authenticator.refresh(token)).refresh_token
    clock.advance(86_400 + 1)
    with pytest.raises(TokenExpired):
        await authenticator.refresh(token)


@pytest.mark.anyio
async def test_s17_concurrent_refresh_race(server: Server) -> None:
    """20 parallel refreshes of one token: one successor only, which then works once."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        address = email("s17")
        await client.post("/auth/register", json={"email": address, "password": PASSWORD})
        tokens = (
            await client.post("/auth/token/login", json={"email": address, "password": PASSWORD})
        ).json()
        responses = await asyncio.gather(
            *(
                client.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
                for _ in range(20)
            )
        )
        assert {r.status_code for r in responses} <= {200, 401}
        successors = {r.json()["refresh_token"] for r in responses if r.status_code == 200}
        assert 1 == len(successors)
        (successor,) = successors
        after = await client.post("/auth/token/refresh", json={"refresh_token": successor})
        assert 200 == after.status_code  # positive control


@pytest.mark.anyio
async def test_s17_concurrent_refresh_race_library(authenticator: Authenticator) -> None:
    """20 concurrent rotations on the store: never two live successors."""
    user = await user_of(authenticator)
    pair = await authenticator.login_tokens(user)
    results = await asyncio.gather(
        *(authenticator.refresh(pair.refresh_token) for _ in range(20)), return_exceptions=True
    )
    successors = {r.refresh_token for r in results if not isinstance(r, BaseException)}
    assert 1 == len(successors)
    assert all(isinstance(r, TokenError) for r in results if isinstance(r, BaseException))
    await authenticator.refresh(successors.pop())


def test_s18_access_and_refresh_tokens_cannot_swap(server: Server) -> None:
    """An RT as Bearer, an AT at /refresh and a session id as Bearer are all refused."""
    browser, _ = session_user(server, "s18")
    address = browser.get("/auth/me").json()["email"]
    tokens = login(browser, "/auth/token/login", address)
    anonymous = server.browser()
    for wrong in (tokens["refresh_token"], browser.jar[SESSION]):
        assert (401, "invalid_token") == error_code(
            anonymous.get("/auth/me", headers=bearer(wrong))
        )
    response = anonymous.post("/auth/token/refresh", json={"refresh_token": tokens["access_token"]})
    assert (401, "invalid_token") == error_code(response)
    assert not alive(anonymous, {SESSION: tokens["access_token"]})
    assert 200 == anonymous.get("/auth/me", headers=bearer(tokens["access_token"])).status_code
    ok = anonymous.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert 200 == ok.status_code


def test_s19_no_fingerprint_cookie_bearer_tokens_are_bearer(server: Server) -> None:
    """n/a: no sidejacking fingerprint; a Bearer token works from anywhere until it ends."""
    browser = server.browser()
    address = email("s19")
    register(browser, address)
    response = browser.post("/auth/token/login", json={"email": address, "password": PASSWORD})
    assert [] == response.headers.get_list("set-cookie")
    token = json_of(response)["access_token"]
    elsewhere = server.browser("127.0.0.7", user_agent="another device")
    assert 200 == elsewhere.get("/auth/me", headers=bearer(token), cookies={}).status_code
    assert 204 == browser.post("/auth/token/logout", headers=bearer(token)).status_code
    assert 401 == elsewhere.get("/auth/me", headers=bearer(token)).status_code


# -- S-20 logs -------------------------------------------------------------------------------


def test_s20_secrets_never_reach_the_logs(server: Server) -> None:
    """After login, refresh, reuse, CSRF failure and logout, no secret is in the server log."""
    browser = server.browser()
    address = email("s20")
    secret_password = "s20 " + secrets.token_urlsafe(12)
    register(browser, address, secret_password)
    session = login(browser, "/auth/session/login", address, secret_password)
    tokens = login(browser, "/auth/token/login", address, secret_password)
    rotated = json_of(
        browser.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    )
    newest = json_of(
        browser.post("/auth/token/refresh", json={"refresh_token": rotated["refresh_token"]})
    )
    browser.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    browser.post("/auth/logout-all", headers={"X-CSRF-Token": "wrong"})
    browser.post("/auth/session/login", json={"email": address, "password": secret_password + "x"})
    session_id = browser.jar[SESSION]
    browser.post("/auth/session/logout", headers=browser.csrf(session["csrf_token"]))
    refresh_secrets = [
        t["refresh_token"].partition(".")[2] for t in (tokens, rotated, newest)
    ]  # the part before the dot is the login's public sid
    jwt_parts = [
        part
        for t in (tokens, rotated, newest)
        for part in (t["access_token"], *t["access_token"].split(".")[1:])
    ]
    csrf_parts = [session["csrf_token"], *session["csrf_token"].split(".")]
    needles = [secret_password, session_id, *refresh_secrets, *jwt_parts, *csrf_parts]
    log = server.log()
    assert "POST /auth/session/logout" in log
    assert "login.session ok" in log
    assert session["session_id"] in log  # the public sid is logged, as intended
    assert [] == [n for n in needles if n in log]


# -- S-21 sensitive changes ------------------------------------------------------------------


def test_s21_no_sensitive_change_without_reauth(server: Server) -> None:
    """A password change needs the current password (wrong: 403 reauth_required, missing:
    422), the CSRF token for cookies, and the policy; every refusal changes nothing.
    Re-registering an email cannot replace its password; there is no email change or
    reset flow, hence no half-authenticated state."""
    browser, csrf = session_user(server, "s21")
    address = browser.get("/auth/me").json()["email"]
    headers = browser.csrf(csrf)
    wrong = {"current_password": "not the password", "new_password": NEW_PASSWORD}
    refused = browser.post("/auth/password", json=wrong, headers=headers)
    assert (403, "reauth_required") == error_code(refused)
    missing = browser.post("/auth/password", json={"new_password": NEW_PASSWORD}, headers=headers)
    assert (422, "validation_error") == error_code(missing)
    weak = {"current_password": PASSWORD, "new_password": "password"}
    assert (422, "validation_error") == error_code(
        browser.post("/auth/password", json=weak, headers=headers)
    )
    good = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    no_csrf = browser.post("/auth/password", json=good, headers={"Origin": browser.origin})
    assert (403, "csrf_failed") == error_code(no_csrf)
    anonymous = server.browser().post("/auth/password", json=good)
    assert 401 == anonymous.status_code
    assert 200 == login_status(server.browser(), address, PASSWORD)  # nothing changed
    response = browser.post(
        "/auth/register", json={"email": address, "password": "another long passphrase"}
    )
    assert (409, "email_taken") == error_code(response)
    assert 401 == login_status(server.browser(), address, "another long passphrase")
    route_paths = {getattr(r, "path", "") for r in all_routes()}
    assert {"/auth/password", "/account/password"} == {
        p for p in route_paths if re.search(r"password|reset|email", p)
    }
    assert 204 == browser.post("/auth/password", json=good, headers=headers).status_code


def login_status(browser: Browser, address: str, password: str) -> int:
    """The status of a session login attempt."""
    response = browser.post("/auth/session/login", json={"email": address, "password": password})
    return response.status_code


# -- S-22 throttling -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def brute_forced(strict: Server) -> dict[str, Any]:
    """From 127.0.0.2: 3 wrong passwords for the victim, then the right one."""
    victim = email("s22")
    register(strict.browser(), victim)
    attacker = strict.browser("127.0.0.2")
    failures = [login_status(attacker, victim, f"guess number {n}") for n in range(3)]
    blocked = attacker.post("/auth/session/login", json={"email": victim, "password": PASSWORD})
    return {"victim": victim, "failures": failures, "blocked": blocked}


def test_s22_brute_force_is_throttled(brute_forced: dict[str, Any]) -> None:
    """After the limit, even the right password from that address gets 429 + Retry-After."""
    assert [401, 401, 401] == brute_forced["failures"]
    blocked = brute_forced["blocked"]
    assert (429, "rate_limited") == error_code(blocked)
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert not blocked.headers.get_list("set-cookie")


def test_s22_attacker_cannot_lock_out_a_fresh_address(
    strict: Server, brute_forced: dict[str, Any]
) -> None:
    """The real user at another address still signs in while the attacker is throttled."""
    user = strict.browser("127.0.0.3")
    assert 200 == login_status(user, brute_forced["victim"], PASSWORD)
    again = strict.browser("127.0.0.2")
    assert 429 == login_status(again, brute_forced["victim"], PASSWORD)


def test_s22_password_spraying_is_throttled_per_address(strict: Server) -> None:
    """One password against many accounts from one address: the address is throttled."""
    sprayer = strict.browser("127.0.0.4")
    statuses = [login_status(sprayer, email(f"spray{n}"), "Summer2024!") for n in range(4)]
    assert [401, 401, 401, 429] == statuses
    assert 401 == login_status(strict.browser("127.0.0.8"), email("spray"), "Summer2024!")


@pytest.mark.anyio
async def test_s22_throttling_in_process(clock: FakeClock) -> None:
    """Rotating addresses get one guess each once the account is over its limit; every
    counter forgets after the window (no permanent lockout)."""
    settings = ServerSettings(store="memory://", dev=True, login_limit="3/minute")
    async with inprocess(settings, clock) as app:
        victim = "rotate@example.com"
        await app.client().post("/auth/register", json={"email": victim, "password": PASSWORD})

        async def attempt(ip: str, password: str) -> int:
            client = app.client(ip)
            body = {"email": victim, "password": password}
            return (await client.post("/auth/session/login", json=body)).status_code

        first = [await attempt(f"198.51.100.{n}", "wrong guess!") for n in range(1, 11)]
        assert [401] * 10 == first  # each fresh address has its password checked
        repeat = [await attempt(f"198.51.100.{n}", PASSWORD) for n in range(1, 11)]
        assert [429] * 10 == repeat  # a failed address is locked for this account
        assert 200 == await attempt("203.0.113.1", PASSWORD)  # the user elsewhere
        clock.advance(61)
        assert 200 == await attempt("198.51.100.1", PASSWORD)  # the window passed
        events = await app.ctx.store.list_audit(limit=100)
        assert 10 == sum(e.detail == "rate_limited" for e in events)


def test_s22_account_cap_distributed_guessing(tmp_path: Path) -> None:
    """A real server with ``--account-limit 5/hour``: five addresses guess once each, then
    a sixth fresh address is refused even with the right password (429 + Retry-After within
    the hour, no cookie), on both logins. The real user's address, trusted by an earlier
    sign-in, still signs in (positive control), and so does another account from the
    refused address: the cap is the account's."""
    proc = Server(tmp_path, "--account-limit", "5/hour")
    proc.start()
    try:
        victim, bystander = email("s22cap"), email("s22other")
        home = proc.browser("127.0.0.20")
        register(home, victim)
        register(home, bystander)
        assert 200 == login_status(home, victim, PASSWORD)  # the user's address is trusted
        guesses = [
            login_status(proc.browser(f"127.0.3.{n}"), victim, f"guess number {n}")
            for n in range(1, 6)
        ]
        assert [401] * 5 == guesses  # one guess per address: the per-window rules never fire
        fresh = proc.browser("127.0.3.6")
        for path in ("/auth/session/login", "/auth/token/login"):
            blocked = fresh.post(path, json={"email": victim, "password": PASSWORD})
            assert (429, "rate_limited") == error_code(blocked)
            assert 3000 < int(blocked.headers["retry-after"]) <= 3600
            assert not blocked.headers.get_list("set-cookie")
        assert 200 == login_status(proc.browser("127.0.0.20"), victim, PASSWORD)
        assert 200 == login_status(proc.browser("127.0.3.6"), bystander, PASSWORD)
        assert 429 == login_status(proc.browser("127.0.3.7"), victim, PASSWORD)
    finally:
        try:
            proc.stop()
        finally:
            proc.kill()


@pytest.mark.anyio
async def test_s22_account_cap_distributed_guessing_in_process(clock: FakeClock) -> None:
    """The default cap, 100/hour, in-process with a moving clock: 100 addresses fail once
    each, the 101st is refused with Retry-After = when the first failure leaves the hour and
    is let in once it has; throttled attempts are audited and never counted."""
    settings = ServerSettings(store="memory://", dev=True)
    async with inprocess(settings, clock) as app:
        victim = "cap@example.com"
        await app.client().post("/auth/register", json={"email": victim, "password": PASSWORD})

        async def attempt(ip: str, password: str) -> httpx.Response:
            body = {"email": victim, "password": password}
            return await app.client(ip).post("/auth/session/login", json=body)

        assert 200 == (await attempt("203.0.113.1", PASSWORD)).status_code  # trusted
        start = clock.now
        for n in range(100):
            assert 401 == (await attempt(f"198.51.{n // 200}.{n % 200 + 1}", "wrong!")).status_code
            clock.advance(10)
        blocked = await attempt("192.0.2.101", PASSWORD)
        assert (429, "rate_limited") == error_code(blocked)
        assert int(blocked.headers["retry-after"]) == round(start + 3600 - clock.now)
        assert 429 == (await attempt("192.0.2.102", "another guess")).status_code
        assert 200 == (await attempt("203.0.113.1", PASSWORD)).status_code  # the user
        clock.advance(int(blocked.headers["retry-after"]))
        assert 200 == (await attempt("192.0.2.101", PASSWORD)).status_code  # an hour at most
        events = await app.ctx.store.list_audit(limit=500)
        assert 2 == sum(e.detail == "rate_limited" for e in events)


@pytest.mark.anyio
async def test_s22_account_cap_distributed_guessing_library() -> None:
    """The library's LoginThrottle (the unit that decides): the cap refuses a fresh address
    for the capped account only, never a trusted one, and a success refills nothing."""
    from gatepass.errors import RateLimited
    from gatepass.stores.memory import MemoryStore
    from gatepass.throttle import LoginThrottle

    clock = FakeClock()
    throttle = LoginThrottle(MemoryStore(clock=clock), account_limit=5, clock=clock)
    await throttle.success("victim", "203.0.113.1")
    for n in range(5):
        await throttle.check("victim", f"198.51.100.{n}")  # positive control: allowed
        await throttle.failure("victim", f"198.51.100.{n}")
    with pytest.raises(RateLimited) as refused:
        await throttle.check("victim", "192.0.2.1")
    assert 3600 == refused.value.retry_after
    await throttle.check("victim", "203.0.113.1")  # trusted: allowed
    await throttle.check("bystander", "192.0.2.1")  # another account: allowed
    await throttle.success("victim", "203.0.113.1")
    with pytest.raises(RateLimited):
        await throttle.check("victim", "192.0.2.1")
    clock.advance(3600)
    await throttle.check("victim", "192.0.2.1")  # the hour passed


# -- S-23 enumeration ------------------------------------------------------------------------


def _shape(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in ("date",))
    return response.status_code, response.content, headers


def test_s23_unknown_email_and_wrong_password_look_the_same(server: Server) -> None:
    """Same status, body and headers (Set-Cookie shape too) on the JSON logins and the form."""
    browser = server.browser()
    known = email("s23")
    register(browser, known)
    for path in ("/auth/session/login", "/auth/token/login"):
        wrong = browser.post(path, json={"email": known, "password": "not the password"})
        unknown = browser.post(
            path, json={"email": email("nobody"), "password": "not the password"}
        )
        assert _shape(wrong) == _shape(unknown)
        assert (401, "invalid_credentials") == error_code(wrong)
    pages: list[str] = []
    for address in (known, "nobody-s23@example.com"):
        page_browser = server.browser()
        page = page_browser.get("/login")
        response = page_browser.post(
            "/login",
            data={"email": address, "password": "not the password", "csrf_token": form_token(page)},
            headers={"Origin": server.origin},
        )
        assert 401 == response.status_code
        assert not response.headers.get_list("set-cookie")
        pages.append(_FORM_TOKEN.sub("", response.text).replace(address, "EMAIL"))
    assert pages[0] == pages[1]
    assert 200 == login_status(browser, known, PASSWORD)  # positive control


def test_s23_login_timing_is_indistinguishable(server: Server) -> None:
    """Median time of unknown-email vs wrong-password logins within 0.5-2x (40 samples each);
    a request that hashes nothing is measurably faster (the control)."""
    client = server.client()
    known = email("s23t")
    register(client, known)

    def timed(body: dict[str, str]) -> float:
        start = time.perf_counter()
        response = client.post("/auth/session/login", json=body)
        elapsed = time.perf_counter() - start
        assert response.status_code in (401, 422)
        return elapsed

    wrong: list[float] = []
    unknown: list[float] = []
    no_hash: list[float] = []
    for n in range(40):
        wrong.append(timed({"email": known, "password": f"wrong password {n}"}))
        unknown.append(timed({"email": f"ghost{n}@example.com", "password": f"wrong password {n}"}))
        no_hash.append(timed({"email": known}))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 <= ratio <= 2.0, (statistics.median(unknown), statistics.median(wrong))
    assert statistics.median(no_hash) < 0.5 * statistics.median(wrong)


@pytest.mark.anyio
async def test_s23_enumeration_library(authenticator: Authenticator) -> None:
    """Unknown, wrong and disabled all raise InvalidCredentials with one public message."""
    user = await user_of(authenticator)
    hashed = await authenticator.hasher.hash(PASSWORD)
    await authenticator.store.create_user(UserRecord("off", "off@example.com", hashed, 0.0, True))
    errors: list[GatepassError] = []
    for address, password in (
        ("nobody@example.com", PASSWORD),
        (user.email, "wrong password"),
        ("off@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ):
        with pytest.raises(InvalidCredentials) as caught:
            await authenticator.verify_password(address, password)
        errors.append(caught.value)
    assert 1 == len({(type(e), e.code, e.public_detail) for e in errors})
    assert user.id == (await authenticator.verify_password(user.email, PASSWORD)).id


# -- S-24 constant-time comparisons ----------------------------------------------------------


_RAW_SECRET = re.compile(r"(secret|csrf_token|^mac$|_mac$|signature|^password$|session_id)")


def equality_on_secrets(source: str) -> list[str]:
    """``==``/``!=`` comparisons whose operands name a raw secret (not its len())."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        for side in (node.left, *node.comparators):
            if isinstance(side, ast.Call):
                continue  # len(signature), execute(...).rowcount: not the secret itself
            ids = [
                n.id if isinstance(n, ast.Name) else n.attr
                for n in ast.walk(side)
                if isinstance(n, ast.Name | ast.Attribute)
            ]
            if any(_RAW_SECRET.search(i) for i in ids):
                hits.append(ast.unparse(node))
    return hits


def test_s24_secrets_are_compared_in_constant_time() -> None:
    """No ``==`` on a secret anywhere in gatepass; the comparisons use hmac.compare_digest."""
    assert ["token == secret"] == equality_on_secrets("ok = token == secret\n")  # control
    hits = {
        path.name: found
        for path in sorted(_SRC.rglob("*.py"))
        if (found := equality_on_secrets(path.read_text()))
    }
    assert {} == hits
    assert "hmac.compare_digest" in inspect.getsource(constant_time_equals)
    assert "hmac.compare_digest" in inspect.getsource(verify_csrf_token)
    secret = new_csrf_secret()
    token = make_csrf_token(secret)
    assert verify_csrf_token(secret, token)
    assert not verify_csrf_token(secret, token[:-1] + ("A" if token[-1] != "A" else "B"))


# -- S-25, S-26 passwords --------------------------------------------------------------------


def test_s25_password_storage(server: Server) -> None:
    """Stored hashes are argon2id PHC strings with the OWASP parameters, salted per user."""
    client = server.browser()
    first, second = email("s25a"), email("s25b")
    register(client, first)
    register(client, second)
    rows = dict(
        db_rows(
            server, "SELECT email, password_hash FROM users WHERE email IN (?, ?)", first, second
        )
    )
    assert 2 == len(rows)
    for value in rows.values():
        assert value.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in value
    assert rows[first] != rows[second]  # same password, different salt


@pytest.mark.anyio
async def test_s25_rehash_on_parameter_change_library(authenticator: Authenticator) -> None:
    """A hash made with weaker parameters is replaced at the next successful login."""
    user = await user_of(authenticator)
    assert "m=1024,t=1" in user.password_hash  # FAST_PASSWORDS
    authenticator.hasher = Argon2Hasher(PasswordSettings())
    await authenticator.verify_password(user.email, PASSWORD)
    stored = await authenticator.store.get_user(user.id)
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    authenticator.hasher = Argon2Hasher(FAST_PASSWORDS)
    assert user.id == (await authenticator.verify_password(user.email, PASSWORD)).id


def test_s26_password_policy(server: Server) -> None:
    """8..1024 code points, not common, not the email; taken exactly (no trim, no NFC)."""
    client = server.browser()

    def status(password: str, address: str | None = None) -> int:
        body = {"email": address or email("s26"), "password": password}
        return client.post("/auth/register", json=body).status_code

    assert 422 == status("x7Kq2pZ")  # 7
    assert 201 == status("x7Kq2pZm")  # 8
    assert 201 == status(secrets.token_urlsafe(48)[:64])
    assert 201 == status("é" * 1024)
    assert 422 == status("é" * 1025)
    for common in ("password", "password1", "iloveyou", "PassWord1", "qwertyuiop"):
        assert 422 == status(common), common
    mine = email("s26self")
    assert 422 == status(mine, mine)
    spaced = "  Ünïcödé passphrase \u0301 "
    address = email("s26u")
    assert 201 == status(spaced, address)
    assert 200 == login_status(client, address, spaced)
    for variant in (spaced.strip(), spaced.replace("Ü", "U\u0308"), spaced.lower()):
        assert 401 == login_status(client, address, variant)


def test_s26_password_policy_library() -> None:
    """The policy function and the shipped 30,000-entry common list."""
    settings = PasswordSettings()
    assert 30_000 == len(common_passwords())
    for bad in ("short12", "x" * 1025, "password1", "PASSWORD1"):
        with pytest.raises(WeakPassword):
            check_password_policy(bad, settings)
    with pytest.raises(WeakPassword):
        check_password_policy("me@example.com", settings, email="me@example.com")
    check_password_policy("correct horse battery staple", settings)  # positive control


# -- S-27 open redirect ----------------------------------------------------------------------


REDIRECT_PAYLOADS = [
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
    "///evil.example",
]


def test_s27_open_redirect(server: Server) -> None:
    """After sign-in, ``next`` is followed only when it is a same-origin relative path."""
    address = email("s27")
    register(server.browser(), address)

    def sign_in(next_value: str) -> tuple[str, str]:
        browser = server.browser()
        page = browser.get("/login", params={"next": next_value})
        shown = _NEXT_FIELD.search(page.text)
        response = browser.post(
            "/login",
            data={"email": address, "password": PASSWORD, "csrf_token": form_token(page),
                  "next": next_value},
            headers={"Origin": server.origin},
        )  # fmt: skip
        assert 303 == response.status_code
        return (shown.group(1) if shown else ""), response.headers["location"]

    for payload in REDIRECT_PAYLOADS:
        assert ("", "/account") == sign_in(payload), payload
    assert ("/account?tab=logins", "/account?tab=logins") == sign_in("/account?tab=logins")


def test_s27_open_redirect_library() -> None:
    """safe_next refuses every payload and keeps relative paths."""
    assert [None] * len(REDIRECT_PAYLOADS) == [safe_next(p) for p in REDIRECT_PAYLOADS]
    assert "/account?x=1#y" == safe_next("/account?x=1#y")


# -- S-28 transport --------------------------------------------------------------------------


def test_s28_secure_mode_cookies_and_hsts(server: Server) -> None:
    """Outside --dev every cookie is Secure/__Host- and pages send HSTS (1 year)."""
    browser = server.browser()
    address = email("s28")
    register(browser, address)
    page = browser.get("/login")
    hsts = page.headers.get("strict-transport-security", "")
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31_536_000  # type: ignore[union-attr]
    responses = [
        page,
        browser.post("/auth/session/login", json={"email": address, "password": PASSWORD}),
        browser.post(
            "/auth/token/login",
            json={"email": address, "password": PASSWORD, "transport": "cookie"},
        ),
    ]
    cookies = [c for r in responses for c in set_cookies(r).values()]
    assert len(cookies) >= 5
    assert all(c.name.startswith("__Host-") and c.has("secure") for c in cookies)


@pytest.mark.anyio
async def test_s28_dev_mode_is_an_explicit_opt_in(clock: FakeClock) -> None:
    """Only --dev drops Secure, __Host- and HSTS (plain http on localhost)."""
    for dev in (True, False):
        settings = ServerSettings(store="memory://", dev=dev)
        async with inprocess(settings, clock) as app:
            page = await app.client().get("/login")
            (cookie,) = page.headers.get_list("set-cookie")
            assert dev != cookie.startswith("__Host-")
            assert dev != ("Secure" in cookie)
            assert dev != ("strict-transport-security" in page.headers)


def test_s28_every_response_carries_hsts_in_secure_mode(server: Server) -> None:
    """TR-01: outside --dev every response, JSON API and pages alike, sends HSTS once."""
    for path in ("/healthz", "/.well-known/jwks.json", "/auth/me", "/login", "/nowhere"):
        response = server.browser().get(path)
        assert ["max-age=31536000"] == response.headers.get_list("strict-transport-security")


# -- cross-checks for docs/security.md (section 1 rows without an S-item of their own) -------


@pytest.mark.anyio
async def test_pw08_no_default_accounts(clock: FakeClock) -> None:
    """A fresh server has no user at all: there is no default or admin account."""
    async with inprocess(ServerSettings(store="memory://", dev=True), clock) as app:
        assert [] == await app.ctx.store.list_users()
        assert (
            201
            == (
                await app.client().post(
                    "/auth/register", json={"email": "a@b.example", "password": PASSWORD}
                )
            ).status_code
        )  # positive control: the store works
        assert 1 == len(await app.ctx.store.list_users())


@pytest.mark.anyio
async def test_pw09_hashing_cost_is_bounded() -> None:
    """The default argon2id cost is OWASP's minimum, and hashes run at most one per CPU but
    one: the work per login and the concurrency are bounded (their time is measured by
    ``make bench``'s login-storm section, not asserted here)."""
    hasher = Argon2Hasher(PasswordSettings())
    digest = await hasher.hash(PASSWORD)
    assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert max(1, (os.cpu_count() or 1) - 1) == hasher.max_concurrency


def test_ck08_demo_never_keeps_tokens_in_web_storage() -> None:
    """The token-column demo script uses no localStorage/sessionStorage (cookies only)."""
    script = (_SRC / "server" / "static" / "app.js").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    assert "document.cookie" in code  # control: the scan sees the code
    assert "localStorage" not in code
    assert "sessionStorage" not in code


def test_jwt27_access_tokens_carry_no_personal_data(server: Server) -> None:
    """The access token's claims are exactly API.md's: ids and times, never the email."""
    browser = server.browser()
    address = email("jwt27")
    register(browser, address)
    token = login(browser, "/auth/token/login", address)["access_token"]
    payload = json.loads(b64url_decode(token.split(".")[1]))
    assert {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "scope"} == set(payload)
    assert address not in json.dumps(payload)


def test_docs_security_md_names_only_existing_tests() -> None:
    """Every ``file::test`` that docs/security.md cites as proof exists in tests/."""
    root = _SRC.parents[1]
    text = (root / "docs" / "security.md").read_text()
    cited = re.findall(r"`((?:[\w/]+/)?test_\w+\.py)::(test_\w+)`", text)
    current = ""
    missing = []
    for path, name in re.findall(r"`([\w/]+\.py)?::(test_\w+)`", text):
        current = path or current  # a bare `::test` continues the previous file
        source = (root / "tests" / current).read_text()
        if not re.search(rf"^(?:async )?def {name}\(", source, re.MULTILINE):
            missing.append(f"{current}::{name}")
    assert len(cited) > 50  # control: the citations were found
    assert [] == missing
