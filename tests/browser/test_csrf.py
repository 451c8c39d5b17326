"""Cross-origin attacks from another loopback port, in a real browser.

``127.0.0.1:<other port>`` is another *origin* but the same *site*, so the browser
sends the victim's SameSite=Lax cookies along with its form posts: only gatepass's
own CSRF check (the token, the Origin allow-list) stands between them and the
victim's account. ``localhost:<port>`` is another site, where SameSite already helps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, new_email
from tests.browser.flows import login_rows, register, spa_sign_in
from tests.servers import ServerProcess

Host = Callable[[str, str], str]


def auto_post(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return (
        "<!doctype html><title>Win a prize</title>"
        f'<form id="f" method="post" action="{action}">{inputs}'
        '<button type="submit">Claim</button></form>'
    )


@pytest.fixture
def victim(browser: Any, server: ServerProcess) -> Iterator[Any]:
    """A browser signed in to the session column, on /account with two logins."""
    context, phone = browser.new_context(), browser.new_context()
    page = context.new_page()
    email = new_email("victim")
    register(page, server.url, email)
    spa_sign_in(phone.new_page(), server.url, email)  # a token login on another device
    phone.close()
    page.reload()
    assert 2 == login_rows(page).count()
    yield page
    context.close()


def still_signed_in(page: Any, base: str) -> int:
    page.goto(f"{base}/account")
    assert page.url == f"{base}/account", "the attack signed the victim out"
    return int(login_rows(page).count())


@pytest.mark.parametrize("target", ["/logout-all", "/logout", "revoke"])
def test_cross_origin_form_post_is_refused(
    server: ServerProcess,
    victim: Any,
    attacker: Host,
    target: str,
    snap: Callable[[Any, str], Path],
) -> None:
    base = server.url
    other = login_rows(victim).filter(has_not_text="This device").locator(".sid").inner_text()
    path = f"/account/sessions/{other}/revoke" if target == "revoke" else target
    url = attacker("/prize", auto_post(f"{base}{path}", {"csrf_token": "forged"}))
    assert url.startswith("http://127.0.0.1:")
    assert f":{server.port}/" not in url
    victim.goto(url)
    with victim.expect_navigation():
        victim.get_by_role("button", name="Claim").click()
    assert 403 == victim.evaluate(
        "() => performance.getEntriesByType('navigation')[0].responseStatus"
    )
    assert "Something went wrong" in victim.content()
    if target == "/logout-all":
        snap(victim, "csrf-refused")
    assert 2 == still_signed_in(victim, base)


def test_stolen_form_without_token_from_another_site_is_refused(
    server: ServerProcess, victim: Any, attacker: Host
) -> None:
    """From ``localhost`` (another site): no cookie is even sent; still nothing changes."""
    before = victim.context.cookies()
    url = attacker("/x", auto_post(f"{server.url}/logout-all", {}))
    victim.goto(url.replace("127.0.0.1", "localhost", 1))
    with victim.expect_navigation():
        victim.get_by_role("button", name="Claim").click()
    # No session cookie came with the cross-site POST, so nothing ended; the GET it was
    # redirected to is a top-level navigation (Lax cookies go): still signed in.
    assert victim.url == f"{server.url}/account"
    assert before == victim.context.cookies()  # and no cookie was touched
    assert 2 == still_signed_in(victim, server.url)


def test_cross_origin_fetch_cannot_use_the_cookies(
    server: ServerProcess, victim: Any, attacker: Host
) -> None:
    """A script on the other origin: a preflighted call is blocked by the browser; a
    simple (no-cors) POST reaches the server with the cookies and is refused there."""
    url = attacker("/script", "<!doctype html><title>x</title><p>hi</p>")
    victim.goto(url)
    blocked = victim.evaluate(
        """async (base) => {
          try {
            await fetch(base + "/auth/logout-all", {method: "POST", credentials: "include",
              headers: {"X-CSRF-Token": "guess"}});
            return "sent";
          } catch (err) { return "blocked"; }
        }""",
        server.url,
    )
    assert "blocked" == blocked
    victim.evaluate(
        """async (base) => { await fetch(base + "/auth/logout-all",
             {method: "POST", mode: "no-cors", credentials: "include"}); }""",
        server.url,
    )
    assert 2 == still_signed_in(victim, server.url)


def test_login_csrf_is_refused(server: ServerProcess, browser: Any, attacker: Host) -> None:
    """A page that signs the visitor in to the *attacker's* account fails (login CSRF)."""
    mallory = new_email("mallory")
    context = browser.new_context()
    try:
        page = context.new_page()
        register(page, server.url, mallory)
        context.clear_cookies()
        url = attacker(
            "/login", auto_post(f"{server.url}/login", {"email": mallory, "password": PASSWORD})
        )
        page.goto(url)
        with page.expect_navigation():
            page.get_by_role("button", name="Claim").click()
        assert "Something went wrong" in page.content()
        names = {c["name"] for c in context.cookies()}
        assert "__Host-gp_session" not in names
    finally:
        context.close()
