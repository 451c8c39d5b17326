"""The session column in a real browser, with JavaScript off: the server-rendered pages.

Register, sign in (wrong password first), the account page listing every live login
with its device and "This device", revoking another browser's login, signing out and
signing out everywhere; the rate-limit and expired-session messages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import new_email
from tests.browser.flows import login_rows, register, sign_in
from tests.servers import ServerProcess


@pytest.fixture
def no_js(browser: Any) -> Iterator[Callable[[], Any]]:
    """``open()`` gives a page in a new context (its own cookies) with JavaScript off."""
    contexts: list[Any] = []

    def open_page() -> Any:
        context = browser.new_context(java_script_enabled=False)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def test_full_session_journey_without_javascript(
    server: ServerProcess, no_js: Callable[[], Any], snap: Callable[[Any, str], Path]
) -> None:
    base = server.url
    email = new_email("journey")
    laptop = no_js()
    assert laptop.evaluate("1 + 1") == 2  # Playwright's own evaluation still works
    register(laptop, base, email)
    assert laptop.get_by_text(f"Signed in as {email}").is_visible()
    assert 1 == login_rows(laptop).count()
    assert "This device" in login_rows(laptop).first.inner_text()
    assert "Headless Chrome" in login_rows(laptop).first.inner_text()  # the device, by name

    # A second browser: a wrong password first, then the right one.
    phone = no_js()
    sign_in(phone, base, email, "not the password at all")
    assert f"{base}/login" == phone.url
    alert = phone.get_by_role("alert")
    assert "The email or password is incorrect." == alert.inner_text()
    assert email == phone.get_by_label("Email").input_value()  # kept; the password is not
    assert "" == phone.get_by_label("Password", exact=True).input_value()
    snap(phone, "login-wrong-password")
    sign_in(phone, base, email)
    assert f"{base}/account" == phone.url

    # The laptop now sees two logins, itself marked; it revokes the phone's.
    laptop.reload()
    assert 2 == login_rows(laptop).count()
    snap(laptop, "account")
    other = login_rows(laptop).filter(has_not_text="This device")
    other.get_by_role("button", name="Revoke").click()
    laptop.wait_for_url(f"{base}/account")
    assert 1 == login_rows(laptop).count()

    # The phone is signed out at its next request, and told why.
    phone.goto(f"{base}/account")
    assert phone.url.startswith(f"{base}/login")
    assert "revoked from another device" in phone.get_by_role("status").inner_text()
    snap(phone, "login-after-revocation")

    # Sign in again on the phone; "sign out everywhere" on the laptop ends both.
    sign_in(phone, base, email)
    laptop.reload()
    assert 2 == login_rows(laptop).count()
    laptop.get_by_role("button", name="Sign out everywhere").click()
    laptop.wait_for_url(f"{base}/login?reason=signed-out")
    assert "You are signed out." in laptop.get_by_role("status").inner_text()
    phone.goto(f"{base}/account")
    assert phone.url.startswith(f"{base}/login")

    # Plain sign out: the session cookie is gone and /account sends us to /login.
    sign_in(laptop, base, email)
    assert f"{base}/account" == laptop.url
    laptop.get_by_role("button", name="Sign out", exact=True).click()
    laptop.wait_for_url(f"{base}/login?reason=signed-out")
    names = {c["name"] for c in laptop.context.cookies()}
    assert "__Host-gp_session" not in names
    laptop.goto(f"{base}/account")
    assert laptop.url.startswith(f"{base}/login")


def test_rate_limit_message(strict_server: ServerProcess, no_js: Callable[[], Any]) -> None:
    """Past the failure limit even the right password is refused, with a clear message."""
    base = strict_server.url
    email = new_email("limited")
    page = no_js()
    register(page, base, email)
    page.get_by_role("button", name="Sign out", exact=True).click()
    for _ in range(3):
        sign_in(page, base, email, "wrong password, again")
    sign_in(page, base, email)
    assert page.url.startswith(f"{base}/login")
    message = page.get_by_role("alert").inner_text()
    assert re.fullmatch(r"Too many failed sign-ins\. Try again in \d+ seconds?\.", message)


def test_expired_session_message(
    strict_server: ServerProcess, no_js: Callable[[], Any], snap: Callable[[Any, str], Path]
) -> None:
    """After the idle timeout (3 s here) the account page sends us to sign in, saying why."""
    base = strict_server.url
    page = no_js()
    register(page, base, new_email("idle"))
    time.sleep(3.5)
    page.goto(f"{base}/account")
    assert page.url == f"{base}/login?next=/account&reason=expired"
    assert "expired after a period of inactivity" in page.get_by_role("status").inner_text()
    snap(page, "login-session-expired")
