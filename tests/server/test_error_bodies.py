"""Every error the server can give, framework ones included, is gatepass JSON."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.integrations.starlette import exception_handlers
from tests.server.conftest import LiveApp

pytestmark = pytest.mark.anyio


async def test_unknown_path_is_json_not_found(live_app: LiveApp) -> None:
    """An unknown path gets 404 with the error body of API.md."""
    r = await live_app.client().get("/no/such/path")
    assert (404, {"error": "not_found", "detail": "Not found."}) == (r.status_code, r.json())


async def test_wrong_method_is_json_405_with_allow(live_app: LiveApp) -> None:
    """A known path with the wrong method gets 405 method_not_allowed and an Allow header."""
    r = await live_app.client().delete("/auth/me")
    assert (405, "method_not_allowed") == (r.status_code, r.json()["error"])
    assert "GET" in r.headers["allow"]


async def test_crash_is_a_generic_500_without_details() -> None:
    """An unexpected exception becomes a generic 500 JSON body with nothing of the error."""

    async def boom(request: Request) -> Response:
        raise RuntimeError("secret /etc/path SELECT * FROM users")

    app = Starlette(routes=[Route("/boom", boom)], exception_handlers=exception_handlers())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/boom")
    assert (500, "server_error") == (r.status_code, r.json()["error"])
    for leak in ("secret", "/etc", "SELECT", "Traceback", "RuntimeError"):
        assert leak not in r.text
