"""Cookie flags as Chromium stores them (API.md "Cookies"), for both columns, and what
a page script can read of them."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import new_email
from tests.browser.flows import register, spa_sign_in
from tests.servers import ServerProcess


def jar(context: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in context.cookies()}


def flags(cookie: dict[str, Any]) -> tuple[bool, bool, str, str, str]:
    """(httpOnly, secure, sameSite, path, domain) as the browser keeps them."""
    return (
        cookie["httpOnly"],
        cookie["secure"],
        cookie["sameSite"],
        cookie["path"],
        cookie["domain"],
    )


def test_session_column_cookies(server: ServerProcess, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/login")
    prelogin = jar(context)["__Host-gp_prelogin"]
    assert (True, True, "Lax", "/", "127.0.0.1") == flags(prelogin)
    register(page, server.url, new_email("cookies"))
    cookies = jar(context)
    # Host-only (no leading dot: no Domain attribute), as __Host- requires.
    assert (True, True, "Lax", "/", "127.0.0.1") == flags(cookies["__Host-gp_session"])
    assert (False, True, "Lax", "/", "127.0.0.1") == flags(cookies["__Host-gp_csrf"])
    assert "__Host-gp_prelogin" not in cookies  # deleted at login
    assert -1 == cookies["__Host-gp_session"]["expires"]  # a browser-session cookie
    assert not any(name.startswith("gp_") for name in cookies)  # every name prefixed
    readable = page.evaluate("document.cookie")
    assert cookies["__Host-gp_session"]["value"] not in readable
    assert f"__Host-gp_csrf={cookies['__Host-gp_csrf']['value']}" == readable


def test_token_column_cookies(server: ServerProcess, context: Any) -> None:
    page = context.new_page()
    spa_sign_in(page, server.url, new_email("cookies-spa"), create=True)
    cookies = jar(context)
    assert (True, True, "Lax", "/", "127.0.0.1") == flags(cookies["__Host-gp_access"])
    assert (True, True, "Strict", "/", "127.0.0.1") == flags(cookies["__Host-gp_refresh"])
    assert (False, True, "Lax", "/", "127.0.0.1") == flags(cookies["__Host-gp_csrf"])
    readable = page.evaluate("document.cookie")
    for name in ("__Host-gp_access", "__Host-gp_refresh"):
        assert cookies[name]["value"] not in readable
    assert readable.startswith("__Host-gp_csrf=")
