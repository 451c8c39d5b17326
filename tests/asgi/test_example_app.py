"""The README's FastAPI quickstart is real: it runs, and it accepts both credentials."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.lifespan import lifespan

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fastapi_app.py"


def test_readme_shows_the_example_verbatim() -> None:
    """The code block in README.md is exactly examples/fastapi_app.py (minus its docstring)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    body = EXAMPLE.read_text().split('"""\n\n', 1)[1]
    assert body in blocks


async def test_example_accepts_bearer_and_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example app answers /me for a Bearer token and for a session cookie, and runs
    the Authenticator's background tasks: its revocation feed becomes healthy, so
    revocation checks are answered from memory."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = runpy.run_path(str(EXAMPLE))
    async with lifespan(namespace["app"]) as (app, state):
        auth = state["gatepass"]
        with anyio.fail_after(10):
            while not auth.feed.healthy:
                await anyio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as c:
            assert 401 == (await c.get("/me")).status_code
            user = await auth.register("ada@example.com", "analytical engine 1843")
            pair = await auth.login_tokens(user, scope="write")
            login = await auth.login_session(user)
            bearer = {"Authorization": f"Bearer {pair.access_token}"}
            cookie = {"Cookie": f"__Host-gp_session={login.session_id}"}
            assert "jwt" == (await c.get("/me", headers=bearer)).json()["via"]
            assert "session" == (await c.get("/me", headers=cookie)).json()["via"]
            assert 200 == (await c.post("/orders", headers=bearer)).status_code
            assert 403 == (await c.post("/orders", headers=cookie)).status_code
    assert (tmp_path / "app.db").exists()
