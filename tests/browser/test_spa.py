"""The token column in a real browser: the /app single-page demo and the API service.

The page signs in with the token-cookie transport, calls /auth/me and the example API
service (which checks the token against the JWKS), survives its 3-second access
tokens expiring with one refresh for every tab and parallel call, and signs out.
"""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import SHORT_TTL, Site, new_email
from tests.browser.flows import login_rows, request_log, spa_sign_in

# In one tab: five /auth/me and two API calls at once, started at a shared instant.
PARALLEL = """([start, api]) => {
  window.__parallel = new Promise((resolve) => setTimeout(resolve, start - Date.now()))
    .then(() => Promise.all([
      ...Array.from({ length: 5 }, () => window.gatepassDemo.authed("GET", "/auth/me")),
      window.gatepassDemo.authed("GET", api + "/orders"),
      window.gatepassDemo.authed("POST", api + "/orders", { body: { item: "x" }, csrf: true }),
    ]))
    .then((results) => results.map((r) => r.status));
}"""


def storage_dump(page: Any) -> str:
    return str(
        page.evaluate(
            "() => JSON.stringify([Object.entries(localStorage), "
            "Object.entries(sessionStorage), document.cookie])"
        )
    )


def wait_past_expiry(signed_in_at: float) -> None:
    time.sleep(max(0.0, signed_in_at + SHORT_TTL + 0.6 - time.monotonic()))


def test_spa_journey(short_site: Site, context: Any, snap: Any) -> None:
    base = short_site.url
    refreshes = request_log(context, "/auth/token/refresh")
    page = context.new_page()
    page.goto(f"{base}/app")
    assert "The token column" in page.get_by_role("heading", level=2).first.inner_text()
    snap(page, "app-signed-out")

    email = new_email("spa")
    spa_sign_in(page, base, email, create=True)
    signed_in_at = time.monotonic()
    assert email == page.locator("#me-email").inner_text()
    assert "tokens (HttpOnly cookies)" == page.locator("#me-method").inner_text()
    assert "This device" in login_rows(page).first.inner_text()

    # No token is readable by the page: not in storage, not in document.cookie.
    tokens = {c["name"]: c["value"] for c in context.cookies()}
    dump = storage_dump(page)
    for name in ("__Host-gp_access", "__Host-gp_refresh"):
        assert tokens[name] not in dump
    assert "__Host-gp_csrf" in dump  # the one cookie meant for scripts

    # The API service accepts the token (cookie + CSRF for the POST).
    page.get_by_role("button", name="List my orders").click()
    result = page.locator("#api-result")
    result.filter(has_text="accepted the token").wait_for()
    page.get_by_role("button", name="Add an order").click()
    result.filter(has_text="1 order.").wait_for()
    snap(page, "app-signed-in")
    assert [] == refreshes

    # Past the access token's life: the next call refreshes once and goes on.
    wait_past_expiry(signed_in_at)
    page.get_by_role("button", name="Who am I?").click()
    page.locator("#status").filter(has_text="Checked at").wait_for()
    assert email == page.locator("#me-email").inner_text()
    assert 1 == len(refreshes)
    signed_in_at = time.monotonic()

    # ...and the API service too, after the next expiry: a 401 there also refreshes.
    wait_past_expiry(signed_in_at)
    page.get_by_role("button", name="List my orders").click()
    result.filter(has_text="1 order.").wait_for()
    assert 2 == len(refreshes)

    # Sign out: the cookies go, and the token no longer works anywhere.
    access = next(c["value"] for c in context.cookies() if c["name"] == "__Host-gp_access")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.locator("#signed-out").wait_for()
    names = {c["name"] for c in context.cookies()}
    assert not names & {"__Host-gp_access", "__Host-gp_refresh"}
    status = page.evaluate(
        "async ([api, token]) => (await fetch(api + '/orders', "
        "{headers: {Authorization: 'Bearer ' + token}})).status",
        [short_site.api.url, access],
    )
    assert 401 == status


def test_many_tabs_and_parallel_calls_refresh_once(short_site: Site, context: Any) -> None:
    """Three tabs, seven calls each, all after expiry: one refresh, and every call works."""
    base = short_site.url
    first = context.new_page()
    spa_sign_in(first, base, new_email("tabs"), create=True)
    signed_in_at = time.monotonic()
    tabs = [first]
    for _ in range(2):
        tab = context.new_page()
        tab.goto(f"{base}/app")
        tab.locator("#signed-in").wait_for()
        tabs.append(tab)
    refreshes = request_log(context, "/auth/token/refresh")
    wait_past_expiry(signed_in_at)

    start = first.evaluate("Date.now()") + 300
    for tab in tabs:
        tab.evaluate(PARALLEL, [start, short_site.api.url])
    statuses = [tab.evaluate("window.__parallel") for tab in tabs]
    assert [[200] * 5 + [200, 201]] * 3 == statuses
    assert 1 == len(refreshes), f"{len(refreshes)} refreshes"

    # Signing out in one tab signs out the others at once (BroadcastChannel).
    tabs[0].get_by_role("button", name="Sign out", exact=True).click()
    for tab in tabs[1:]:
        tab.locator("#signed-out").wait_for(timeout=2000)
        assert "Signed out in another tab." == tab.locator("#status").inner_text()


def test_api_service_refuses_what_it_should(short_site: Site, context: Any) -> None:
    """The API service: no token 401, a cookie POST without CSRF 403, a forged token 401."""
    base, api = short_site.url, short_site.api.url
    page = context.new_page()
    spa_sign_in(page, base, new_email("api"), create=True)
    calls = {
        "no credentials": "fetch(api + '/orders')",
        "cookie, no CSRF": "fetch(api + '/orders', {method: 'POST', credentials: 'include', "
        "headers: {'Content-Type': 'application/json'}, body: JSON.stringify({item: 'x'})})",
        "forged bearer": "fetch(api + '/orders', {headers: {Authorization: 'Bearer e30.e30.x'}})",
    }
    got = {}
    for name, expression in calls.items():
        got[name] = page.evaluate(
            f"async (api) => {{ const r = await {expression}; "
            "return [r.status, await r.json()]; }",
            api,
        )
    assert (401, "invalid_token") == (got["no credentials"][0], got["no credentials"][1]["error"])
    assert (403, "csrf_failed") == (got["cookie, no CSRF"][0], got["cookie, no CSRF"][1]["error"])
    assert 401 == got["forged bearer"][0]
