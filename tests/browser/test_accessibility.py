"""Accessibility and small screens: axe-core (WCAG 2.1 A/AA, incl. colour contrast and
labels) on every page, the keyboard focus order, and a 390x844 phone viewport.

axe-core runs from the copy bundled in the ``axe-playwright-python`` wheel (PyPI):
nothing is fetched at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Site, new_email
from tests.browser.flows import axe_violations, login_rows, register, spa_sign_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def pages(browser: Any, site: Site) -> Iterator[Callable[..., Any]]:
    """``open(path, signed_in=None|"session"|"tokens", **context options)``."""
    contexts: list[Any] = []

    def open_page(path: str, signed_in: str | None = None, **options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        if signed_in == "session":
            email = new_email("a11y")
            register(page, site.url, email)
            other = browser.new_context()
            contexts.append(other)
            spa_sign_in(other.new_page(), site.url, email)  # a second login in the table
        elif signed_in == "tokens":
            spa_sign_in(page, site.url, new_email("a11y-spa"), create=True)
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
        return page

    yield open_page
    for context in contexts:
        context.close()


CASES = [
    ("login", "/login", None),
    ("login-notice", "/login?reason=expired", None),
    ("register", "/register", None),
    ("account", "/account", "session"),
    ("account-error", "/account?error=wrong-password", "session"),
    ("app-signed-out", "/app", None),
    ("app-signed-in", "/app", "tokens"),
    ("error", "/login", "session"),
]


@pytest.mark.parametrize(("name", "path", "signed_in"), CASES, ids=[c[0] for c in CASES])
def test_axe_finds_nothing(
    pages: Callable[..., Any], name: str, path: str, signed_in: str | None
) -> None:
    page = pages(path, signed_in)
    if name == "error":  # a form post from nowhere: the 403 page
        with page.expect_navigation():
            page.evaluate(
                "() => { const f = document.createElement('form'); f.method = 'post';"
                " f.action = '/account/sessions/x/revoke'; document.body.append(f); f.submit(); }"
            )
        page.wait_for_load_state()
        assert "Something went wrong" in page.content()
    assert [] == axe_violations(page)


def test_login_form_errors_are_announced_and_labelled(pages: Callable[..., Any]) -> None:
    page = pages("/login")
    page.get_by_label("Email").fill(new_email("nobody"))
    page.get_by_label("Password", exact=True).fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "incorrect" in alert.inner_text()
    assert "form-error" == page.get_by_label("Email").get_attribute("aria-describedby")
    assert [] == axe_violations(page)


def start_at_top(page: Any) -> None:
    """Put the keyboard's starting point before everything (the pages autofocus Email)."""
    page.evaluate(
        """() => { const start = document.createElement("span"); start.tabIndex = -1;
                   document.body.prepend(start); start.focus(); }"""
    )


def focus_path(page: Any, steps: int) -> list[str]:
    """What Tab focuses, step by step: the accessible text of each element."""
    start_at_top(page)
    names = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        names.append(
            page.evaluate(
                """() => {
                  const el = document.activeElement;
                  const label = el.labels && el.labels[0] ? el.labels[0].textContent : "";
                  const outline = getComputedStyle(el).outlineStyle;
                  const text = (label || el.textContent || el.value || "").trim();
                  const ring = outline === "none" ? " [NO FOCUS RING]" : "";
                  return `${el.tagName.toLowerCase()}:${text}${ring}`;
                }"""
            )
        )
    return names


def test_keyboard_focus_order_on_login(pages: Callable[..., Any]) -> None:
    """Skip link first, then the navigation, then the form top to bottom; every stop
    shows a focus ring."""
    page = pages("/login")
    assert focus_path(page, 10) == [
        "a:Skip to content",
        "a:gatepass",
        "a:Sign in",
        "a:Create account",
        "a:Account",
        "a:App demo",
        "input:Email",
        "input:Password",
        "button:Sign in",
        "a:Create an account",
    ]


def test_skip_link_moves_focus_to_the_content(pages: Callable[..., Any]) -> None:
    page = pages("/register")
    start_at_top(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert "main" == page.evaluate("() => document.activeElement.id")


def test_keyboard_focus_order_on_account(pages: Callable[..., Any]) -> None:
    page = pages("/account", "session")
    path = focus_path(page, 10)
    # After the skip link and the five links of the top bar: the account's own buttons,
    # then one per login row, in table order (the current login may be either row).
    assert ["button:Sign out", "button:Sign out everywhere"] == path[6:8], path
    assert ["button:Revoke", "button:Sign out"] == sorted(path[8:10]), path


PHONE_PAGES = [
    ("login", "/login", None),
    ("register", "/register", None),
    ("account", "/account", "session"),
    ("app", "/app", "tokens"),
]


@pytest.mark.parametrize(
    ("name", "path", "signed_in"), PHONE_PAGES, ids=[c[0] for c in PHONE_PAGES]
)
def test_phone_viewport(
    pages: Callable[..., Any],
    snap: Callable[[Any, str], Path],
    name: str,
    path: str,
    signed_in: str | None,
) -> None:
    """At 390x844 nothing scrolls sideways, text stays >= 12 px, and buttons stay tappable."""
    page = pages(path, signed_in, viewport=PHONE, is_mobile=True, has_touch=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide"
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('body *')]
             .filter((el) => el.offsetParent !== null && el.childNodes.length &&
                     [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
             .map((el) => parseFloat(getComputedStyle(el).fontSize)))"""
    )
    assert smallest >= 12, f"{name}: {smallest}px text"
    for button in page.get_by_role("button").all():
        if button.is_visible():
            box = button.bounding_box()
            assert box is not None
            assert box["height"] >= 24, f"{name}: a {box['height']}px tall button"
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= PHONE["width"]
    if name == "account":
        assert 2 == login_rows(page).count()
    snap(page, f"phone-{name}")
