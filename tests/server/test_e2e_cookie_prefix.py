"""End to end: ``gatepass serve --cookie-prefix`` renames every cookie (CK-07).

A ``--dev`` server with ``--cookie-prefix ""`` is driven through httpx's cookie jar
(generic names ``session``, ``csrf``...); a secure-mode server with ``--cookie-prefix
sso_`` is checked by its ``Set-Cookie`` names, and its cookies are sent back by hand
(httpx sends no ``Secure`` cookie over plain http).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _running(tmp: pytest.TempPathFactory, *extra: str, dev: bool) -> Iterator[ServerProcess]:
    root = tmp.mktemp("e2e-prefix")
    proc = ServerProcess(root / "gp.db", root / "server.log", *extra, dev=dev)
    proc.start()
    try:
        yield proc
    finally:
        if proc.proc is not None:
            proc.stop()
        proc.kill()


@pytest.fixture(scope="module")
def generic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A --dev server whose cookies carry no prefix at all."""
    yield from _running(
        tmp_path_factory, "--cookie-prefix", "", "--login-limit", "1000/minute", dev=True
    )


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A secure-mode server (no --dev) with the prefix sso_."""
    yield from _running(
        tmp_path_factory, "--cookie-prefix", "sso_", "--login-limit", "1000/minute", dev=False
    )


def register(client: httpx.Client, email: str) -> None:
    response = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert 201 == response.status_code, response.text


def login(client: httpx.Client, path: str, email: str, **extra: str) -> httpx.Response:
    response = client.post(path, json={"email": email, "password": PASSWORD, **extra})
    assert 200 == response.status_code, response.text
    return response


def names(response: httpx.Response) -> list[str]:
    """The cookie names of the response's Set-Cookie headers, in order."""
    return [h.partition("=")[0] for h in response.headers.get_list("set-cookie")]


def sent_back(response: httpx.Response) -> str:
    """A Cookie header with every cookie the response set (as a browser over https)."""
    return "; ".join(h.split(";")[0] for h in response.headers.get_list("set-cookie"))


def test_session_column_with_generic_names(generic: ServerProcess) -> None:
    """Session login sets only session + csrf; me works; logout needs the CSRF header."""
    with httpx.Client(base_url=generic.url) as client:
        register(client, "session@example.com")
        response = login(client, "/auth/session/login", "session@example.com")
        assert ["session", "csrf"] == names(response)
        assert {"session", "csrf"} == set(client.cookies.keys())
        assert "session" == client.get("/auth/me").json()["auth"]["method"]
        refused = client.post("/auth/session/logout", headers={"Origin": generic.url})
        assert (403, "csrf_failed") == (refused.status_code, refused.json()["error"])
        assert 200 == client.get("/auth/me").status_code
        headers = {"X-CSRF-Token": response.json()["csrf_token"], "Origin": generic.url}
        assert 204 == client.post("/auth/session/logout", headers=headers).status_code
        assert 401 == client.get("/auth/me").status_code


def test_token_cookie_transport_with_generic_names(generic: ServerProcess) -> None:
    """Token-cookie login sets access, refresh and csrf; the cookie refresh rotates."""
    with httpx.Client(base_url=generic.url) as client:
        register(client, "cookie@example.com")
        response = login(client, "/auth/token/login", "cookie@example.com", transport="cookie")
        assert ["access", "refresh", "csrf"] == names(response)
        assert {"access", "refresh", "csrf"} == set(client.cookies.keys())
        assert "jwt" == client.get("/auth/me").json()["auth"]["method"]
        old = client.cookies["refresh"]
        refused = client.post("/auth/token/refresh", headers={"Origin": generic.url})
        assert (403, "csrf_failed") == (refused.status_code, refused.json()["error"])
        headers = {"X-CSRF-Token": response.json()["csrf_token"], "Origin": generic.url}
        refreshed = client.post("/auth/token/refresh", headers=headers)
        assert 200 == refreshed.status_code, refreshed.text
        assert ["access", "refresh", "csrf"] == names(refreshed)
        assert old != client.cookies["refresh"]
        assert "jwt" == client.get("/auth/me").json()["auth"]["method"]


def test_login_form_with_generic_prelogin_cookie(generic: ServerProcess) -> None:
    """GET /login sets prelogin; POST /login with its token signs in and clears it."""
    with httpx.Client(base_url=generic.url) as client:
        register(client, "form@example.com")
        page = client.get("/login")
        assert ["prelogin"] == names(page)
        match = _TOKEN.search(page.text)
        assert match is not None
        data = {"email": "form@example.com", "password": PASSWORD, "csrf_token": match.group(1)}
        response = client.post("/login", data=data, headers={"Origin": generic.url})
        assert (303, "/account") == (response.status_code, response.headers["location"])
        assert ["session", "csrf", "prelogin"] == names(response)
        assert {"session", "csrf"} == set(client.cookies.keys())
        assert 200 == client.get("/account").status_code


def test_secure_mode_names_carry_host_and_prefix(secure: ServerProcess) -> None:
    """Secure mode with sso_: __Host-sso_* names on every Set-Cookie; they authenticate."""
    origin = {"Origin": secure.issuer}
    with httpx.Client(base_url=secure.url) as client:
        register(client, "secure@example.com")
        assert ["__Host-sso_prelogin"] == names(client.get("/login"))
        response = login(client, "/auth/session/login", "secure@example.com")
        assert ["__Host-sso_session", "__Host-sso_csrf"] == names(response)
        client.cookies.clear()  # only the Cookie headers below are sent
        cookie = {"Cookie": sent_back(response)}
        assert "session" == client.get("/auth/me", headers=cookie).json()["auth"]["method"]
        refused = client.post("/auth/session/logout", headers={**cookie, **origin})
        assert 403 == refused.status_code
        csrf = {"X-CSRF-Token": response.json()["csrf_token"]}
        ok = client.post("/auth/session/logout", headers={**cookie, **origin, **csrf})
        assert 204 == ok.status_code
        tokens = login(client, "/auth/token/login", "secure@example.com", transport="cookie")
        assert ["__Host-sso_access", "__Host-sso_refresh", "__Host-sso_csrf"] == names(tokens)
        client.cookies.clear()
        cookie = {"Cookie": sent_back(tokens)}
        assert "jwt" == client.get("/auth/me", headers=cookie).json()["auth"]["method"]
        csrf = {"X-CSRF-Token": tokens.json()["csrf_token"]}
        refreshed = client.post("/auth/token/refresh", headers={**cookie, **origin, **csrf})
        assert 200 == refreshed.status_code, refreshed.text
        assert ["__Host-sso_access", "__Host-sso_refresh", "__Host-sso_csrf"] == names(refreshed)
