"""Log hygiene (SECURITY.md S-20, SES-12, AA-05): secrets never reach a log line.

One flow exercises everything that handles a secret: register, failed logins (wrong
password, unknown email), session login, exchange, a CSRF failure, session logout,
token login (Bearer and cookie), refresh, reuse of a spent refresh token, cookie refresh
with a wrong then the right CSRF token, token logout, a malformed Bearer header, and
the sign-in form (pre-login cookie, wrong then right password). Every secret it sees
(passwords tried, session ids, access tokens and their payload and signature segments,
refresh tokens and their secret part, CSRF tokens and both their parts, the pre-login
secret) is then searched for in:

- every log record of every logger at DEBUG, in-process (caplog: message, arguments,
  every attribute including ``extra`` values, and rendered tracebacks);
- everything a real ``gatepass serve`` process writes (uvicorn's access log included),
  started with the root logger at DEBUG and a formatter that prints every attribute.

Positive controls: the logs do contain each authentication attempt and the public ids
(the login's sid), so an empty or unrelated log cannot pass.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gatepass.server.settings import ServerSettings
from tests.security._server import Server, inprocess

pytestmark = pytest.mark.anyio

_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORMATTER = logging.Formatter()


def jwt_pieces(token: str) -> list[str]:
    """A JWT, its payload and its signature (the header segment holds nothing secret)."""
    return [token, *token.split(".")[1:]]


def dotted_pieces(token: str) -> list[str]:
    """A ``<a>.<b>`` token (CSRF) and both halves."""
    return [token, *token.split(".")]


def refresh_pieces(token: str) -> list[str]:
    """A refresh token and its secret (the part before the dot is the public sid)."""
    return [token, token.partition(".")[2]]


class Flow:
    """Runs every secret-handling request against one server; collects the secrets."""

    def __init__(self, base_url: str, make_client: type[httpx.AsyncClient], **kwargs: object):
        self.base_url = base_url
        self.make_client = make_client
        self.kwargs = kwargs
        self.secrets: list[str] = []
        self.sids: list[str] = []

    def client(self) -> httpx.AsyncClient:
        return self.make_client(base_url=self.base_url, **self.kwargs)  # type: ignore[arg-type]

    def keep(self, *values: str) -> None:
        self.secrets.extend(v for v in values if v)

    async def run(self) -> None:
        origin = {"Origin": self.base_url}
        password = "log hygiene " + secrets.token_urlsafe(12)
        email = f"logs-{uuid.uuid4().hex[:8]}@example.com"
        creds = {"email": email, "password": password}
        wrong = "wrong " + secrets.token_urlsafe(12)
        self.keep(password, wrong)
        async with self.client() as c:
            assert 201 == (await c.post("/auth/register", json=creds)).status_code
            bad = {"email": email, "password": wrong}
            assert 401 == (await c.post("/auth/session/login", json=bad)).status_code
            ghost = {"email": "ghost-" + email, "password": wrong}
            assert 401 == (await c.post("/auth/token/login", json=ghost)).status_code
            # session column
            body = (await c.post("/auth/session/login", json=creds)).json()
            csrf = {"X-CSRF-Token": body["csrf_token"], **origin}
            self.keep(c.cookies["gp_session"], *dotted_pieces(body["csrf_token"]))
            self.sids.append(body["session_id"])
            assert 200 == (await c.get("/auth/me")).status_code
            exchanged = (await c.post("/auth/token/exchange", headers=csrf)).json()
            self.keep(*jwt_pieces(exchanged["access_token"]))
            forged = {"X-CSRF-Token": body["csrf_token"][::-1], **origin}
            assert 403 == (await c.post("/auth/logout-all", headers=forged)).status_code
            assert 204 == (await c.post("/auth/session/logout", headers=csrf)).status_code
        async with self.client() as c:
            # token column, Bearer
            first = (await c.post("/auth/token/login", json=creds)).json()
            second = (
                await c.post("/auth/token/refresh", json={"refresh_token": first["refresh_token"]})
            ).json()
            third = (
                await c.post("/auth/token/refresh", json={"refresh_token": second["refresh_token"]})
            ).json()
            for pair in (first, second, third):
                self.keep(*jwt_pieces(pair["access_token"]), *refresh_pieces(pair["refresh_token"]))
            reuse = await c.post(
                "/auth/token/refresh", json={"refresh_token": first["refresh_token"]}
            )
            assert "refresh_reused" == reuse.json()["error"]
            malformed = {"Authorization": "Bearer " + third["access_token"][:-3]}
            assert 401 == (await c.get("/auth/me", headers=malformed)).status_code
            again = (await c.post("/auth/token/login", json=creds)).json()
            self.keep(*jwt_pieces(again["access_token"]), *refresh_pieces(again["refresh_token"]))
            bearer = {"Authorization": f"Bearer {again['access_token']}"}
            assert 204 == (await c.post("/auth/token/logout", headers=bearer)).status_code
        async with self.client() as c:
            # token column, cookies
            body = (await c.post("/auth/token/login", json={**creds, "transport": "cookie"})).json()
            self.keep(
                c.cookies["gp_access"], c.cookies["gp_refresh"], *dotted_pieces(body["csrf_token"])
            )
            self.keep(*jwt_pieces(c.cookies["gp_access"]), *refresh_pieces(c.cookies["gp_refresh"]))
            token = body["csrf_token"]  # change its first character (it may be an "x")
            wrong_csrf = {"X-CSRF-Token": ("y" if token[0] == "x" else "x") + token[1:], **origin}
            assert 403 == (await c.post("/auth/token/refresh", headers=wrong_csrf)).status_code
            csrf = {"X-CSRF-Token": body["csrf_token"], **origin}
            assert 200 == (await c.post("/auth/token/refresh", headers=csrf)).status_code
            self.keep(*jwt_pieces(c.cookies["gp_access"]), *refresh_pieces(c.cookies["gp_refresh"]))
            assert 204 == (await c.post("/auth/token/logout", headers=csrf)).status_code
        async with self.client() as c:
            # the sign-in form
            page = await c.get("/login")
            token = _FORM_TOKEN.search(page.text)
            assert token is not None
            self.keep(c.cookies["gp_prelogin"], *dotted_pieces(token.group(1)))
            form = {"email": email, "password": wrong, "csrf_token": token.group(1)}
            assert 401 == (await c.post("/login", data=form, headers=origin)).status_code
            form["password"] = password
            assert 303 == (await c.post("/login", data=form, headers=origin)).status_code
            self.keep(c.cookies["gp_session"])

    def leaks(self, text: str) -> list[str]:
        """The collected secrets (shortened) that occur in ``text``."""
        return [s[:12] + "..." for s in self.secrets if len(s) >= 16 and s in text]


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write about a record."""
    parts = [record.getMessage(), repr(record.args), repr(vars(record))]
    if record.exc_info:
        parts.append(_FORMATTER.formatException(record.exc_info))
    return "\n".join(parts)


async def test_no_secret_in_any_log_record_in_process(caplog: pytest.LogCaptureFixture) -> None:
    """In-process, at DEBUG for every logger: no secret in any record; attempts are logged."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="gatepass")
    settings = ServerSettings(store="memory://", dev=True, login_limit="1000/minute")
    async with inprocess(settings) as app:
        transport = httpx.ASGITransport(app=app.asgi, client=("203.0.113.9", 4000))
        flow = Flow(app.base_url, httpx.AsyncClient, transport=transport)
        await flow.run()
    text = "\n".join(record_text(r) for r in caplog.records)
    assert [] == flow.leaks(text)
    messages = [r.getMessage() for r in caplog.records if r.name == "gatepass.audit"]
    for expected in ("register ok", "login failed", "login.session ok", "login.token ok",
                     "refresh ok", "refresh failed", "logout ok", "token.exchange ok"):  # fmt: skip
        assert expected in messages
    assert all(sid in text for sid in flow.sids)  # the public ids are there: the scan sees


@pytest.fixture
def debug_server(tmp_path: Path) -> Iterator[Server]:
    """A real server whose every log record (DEBUG, every logger) lands in its log file."""
    server = Server(tmp_path, "--login-limit", "1000/minute", dev=True, debug_logs=True)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill()


async def test_no_secret_in_the_real_server_output(debug_server: Server) -> None:
    """A real `gatepass serve` at DEBUG, access log included, never writes a secret."""
    flow = Flow(debug_server.url, httpx.AsyncClient, timeout=30)
    await flow.run()
    debug_server.stop()  # flush and close
    log = debug_server.log()
    assert '"POST /auth/token/refresh HTTP/1.1" 401' in log  # access log: the reuse
    assert "login failed" in log
    assert "gatepass.audit" in log
    assert all(sid in log for sid in flow.sids)
    assert [] == flow.leaks(log)


def test_leak_detector_finds_a_planted_secret() -> None:
    """Positive control of the scan itself: a secret in a log line is reported."""
    flow = Flow("http://x", httpx.AsyncClient)
    secret = secrets.token_urlsafe(32)
    flow.keep(*dotted_pieces(f"{secret}.{secret[::-1]}"))
    record = logging.LogRecord("gatepass.x", logging.INFO, __file__, 1, "%s", (secret,), None)
    assert flow.leaks(record_text(record))
    extra = logging.LogRecord("gatepass.x", logging.INFO, __file__, 1, "ok", None, None)
    extra.user_agent = secret[::-1]
    assert flow.leaks(record_text(extra))
