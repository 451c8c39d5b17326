"""What a person does in the demo pages, as steps the browser tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.browser.conftest import PASSWORD


def register(page: Any, base: str, email: str) -> None:
    """Create an account with the /register form; ends signed in on /account."""
    page.goto(f"{base}/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/account")


def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    """Submit the /login form (wherever it leads)."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def login_rows(page: Any) -> Any:
    """The rows of the logins table (account page or /app)."""
    return page.locator("table.logins tbody tr")


def spa_sign_in(page: Any, base: str, email: str, *, create: bool = False) -> None:
    """Sign in on /app (token-cookie transport), creating the account first if asked."""
    page.goto(f"{base}/app")
    page.locator("#signed-out").wait_for()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account" if create else "Sign in").click()
    page.locator("#signed-in").wait_for()
    login_rows(page).first.wait_for()


def request_log(context: Any, path: str) -> list[float]:
    """A list that fills with the time of every browser request whose path ends ``path``."""
    seen: list[float] = []
    context.on(
        "request",
        lambda request: seen.append(time.monotonic()) if request.url.endswith(path) else None,
    )
    return seen


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> float:
    """Seconds until ``check()`` is true; AssertionError after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page: Any) -> list[str]:
    """Every axe violation on the page, as "rule: target" lines (empty: none)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [
        f"{v['id']} ({v['impact']}): {node['target']}"
        for v in results.response["violations"]
        for node in v["nodes"]
    ]
