"""The audit trail (SES-12, AA-05): every security event, structured, stored and logged.

Each of these is an :class:`~gatepass.stores.base.AuditEvent` in the store (who:
``user_id`` and ``sid``; what: ``action`` and ``detail``; when: ``created_at``; where
from: ``ip`` and ``user_agent``; ``outcome``) and a record on the ``gatepass.audit``
logger carrying the same fields:

=================================  ===============  =========  ====================
event                              action           outcome    detail
=================================  ===============  =========  ====================
session / token login              login.session,   ok
                                   login.token
failed login (wrong, unknown)      login            failed
throttled login (JSON and form)    login            failed     rate_limited
refresh                            refresh          ok
refresh with a bad token           refresh          failed     the error code
reuse of a spent refresh token     refresh          failed     refresh_reused
logout (session, token, by RT)     logout           ok
revoke one login                   session.revoke   ok
log out everywhere                 logout.all       ok
token exchange                     token.exchange   ok
password given again               reauth           ok, failed
password changed                   password.change  ok         ended N other logins
account disabled / enabled         user.disable,    ok
                                   user.enable
signing key rotated / retired      key.rotate,      ok         kid=... alg=...
                                   key.retire
=================================  ===============  =========  ====================

The first test drives the server in-process (FakeClock, so ``created_at`` is exact);
the second drives a real ``gatepass serve`` from a chosen client address and reads the
trail back with ``gatepass audit list`` against the server's SQLite file, next to a
``gatepass keys rotate``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepass.keys.persisted import retire_key, rotate_key
from gatepass.server.settings import ServerSettings
from gatepass.stores.base import AuditEvent
from tests.cli.helpers import run_cli
from tests.conftest import FakeClock
from tests.security._server import PASSWORD, Server, inprocess

_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
IP = "198.51.100.23"
IP2 = "198.51.100.24"
AGENT = "AuditTest/1.0 (security suite)"


def _fields(event: AuditEvent) -> tuple[Any, ...]:
    return (event.action, event.outcome, event.user_id, event.sid, event.ip, event.user_agent)


@pytest.mark.anyio
async def test_every_security_event_is_stored_and_logged(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Logins, failures, throttling, refresh, reuse, logouts, revocations, exchange,
    re-authentication, password change, disabling and key rotation each leave a complete
    audit event in the store and on gatepass.audit."""
    caplog.set_level(logging.INFO, logger="gatepass.audit")
    settings = ServerSettings(store="memory://", dev=True, login_limit="3/minute")
    async with inprocess(settings, clock) as app:
        client = app.client(IP)
        client.headers["User-Agent"] = AGENT
        origin = {"Origin": app.base_url}
        store = app.ctx.store
        email, creds = "audit@example.com", {"email": "audit@example.com", "password": PASSWORD}
        user_id = (await client.post("/auth/register", json=creds)).json()["id"]
        start = len(await store.list_audit(limit=1000))

        async def new_events() -> list[AuditEvent]:
            events = list(reversed(await store.list_audit(limit=1000)))
            return events[start:]

        # failed logins: a wrong password (known user) and an unknown email
        await client.post("/auth/session/login", json={"email": email, "password": "nope nope"})
        await client.post("/auth/token/login", json={"email": "x@example.com", "password": "nope!"})
        # a session: login, exchange, logout
        session = (await client.post("/auth/session/login", json=creds)).json()
        csrf = {"X-CSRF-Token": session["csrf_token"], **origin}
        await client.post("/auth/token/exchange", headers=csrf)
        assert 204 == (await client.post("/auth/session/logout", headers=csrf)).status_code
        # a token family: login, refresh, reuse (revokes the family)
        first = (await client.post("/auth/token/login", json=creds)).json()
        r1 = {"refresh_token": first["refresh_token"]}
        second = (await client.post("/auth/token/refresh", json=r1)).json()
        r2 = {"refresh_token": second["refresh_token"]}
        await client.post("/auth/token/refresh", json=r2)
        reused = await client.post("/auth/token/refresh", json=r1)
        assert "refresh_reused" == reused.json()["error"]
        await client.post("/auth/token/refresh", json={"refresh_token": "x" * 22 + "." + "y" * 43})
        # revoke one login, log out by refresh token, log out everywhere
        third = (await client.post("/auth/token/login", json=creds)).json()
        fourth = (await client.post("/auth/token/login", json=creds)).json()
        bearer = {"Authorization": f"Bearer {third['access_token']}"}
        fourth_sid = fourth["refresh_token"].split(".")[0]  # a family id is its login's sid
        assert (
            204 == (await client.delete(f"/auth/sessions/{fourth_sid}", headers=bearer)).status_code
        )
        fifth = (await client.post("/auth/token/login", json=creds)).json()
        by_rt = {"refresh_token": fifth["refresh_token"]}
        assert 204 == (await client.post("/auth/token/logout", json=by_rt)).status_code
        assert 204 == (await client.post("/auth/logout-all", headers=bearer)).status_code
        # throttling: this address has failed twice (limit 3/minute); once more, then even the
        # right password is refused, by the JSON API and by the form
        await client.post("/auth/session/login", json={"email": email, "password": "nope nope"})
        throttled = await client.post("/auth/session/login", json=creds)
        assert 429 == throttled.status_code
        page = await client.get("/login")
        token = _FORM_TOKEN.search(page.text)
        assert token is not None
        form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
        assert 429 == (await client.post("/login", data=form, headers=origin)).status_code
        # account changes, from another address: a wrong and a right current password, the
        # change (no other login left to end), then the admin disables the account
        other = app.client(IP2)
        other.headers["User-Agent"] = AGENT
        sixth = (await other.post("/auth/token/login", json=creds)).json()
        sixth_sid = sixth["refresh_token"].split(".")[0]
        as_sixth = {"Authorization": f"Bearer {sixth['access_token']}"}
        wrong = {"current_password": "not it at all", "new_password": "a new long passphrase"}
        assert 403 == (await other.post("/auth/password", json=wrong, headers=as_sixth)).status_code
        right = {"current_password": PASSWORD, "new_password": "a new long passphrase"}
        assert 204 == (await other.post("/auth/password", json=right, headers=as_sixth)).status_code
        assert 1 == await app.ctx.authenticator.set_disabled(user_id, True)  # the sixth
        # key rotation and retirement (the CLI's functions, on the server's store)
        old_kid = app.ctx.authenticator.keyring.active.kid
        new_key = await rotate_key(store, alg="EdDSA", clock=clock)
        await retire_key(store, old_kid, clock=clock)
        events = await new_events()

    sid = session["session_id"]
    family = first["refresh_token"].split(".")[0]
    third_sid = third["refresh_token"].split(".")[0]
    fifth_sid = fifth["refresh_token"].split(".")[0]
    expected = [
        ("login", "failed", user_id, None, IP, AGENT, None),
        ("login", "failed", None, None, IP, AGENT, None),
        ("login.session", "ok", user_id, sid, IP, AGENT, None),
        ("token.exchange", "ok", user_id, sid, IP, AGENT, None),
        ("logout", "ok", user_id, sid, IP, AGENT, None),
        ("login.token", "ok", user_id, family, IP, AGENT, None),
        ("refresh", "ok", user_id, family, IP, AGENT, None),
        ("refresh", "ok", user_id, family, IP, AGENT, None),
        ("refresh", "failed", user_id, family, IP, AGENT, "refresh_reused"),
        ("refresh", "failed", None, None, IP, AGENT, "invalid_token"),  # no such family
        ("login.token", "ok", user_id, third_sid, IP, AGENT, None),
        ("login.token", "ok", user_id, fourth_sid, IP, AGENT, None),
        ("session.revoke", "ok", user_id, fourth_sid, IP, AGENT, None),
        ("login.token", "ok", user_id, fifth_sid, IP, AGENT, None),
        ("logout", "ok", user_id, fifth_sid, IP, AGENT, None),
        ("logout.all", "ok", user_id, None, IP, AGENT, None),
        ("login", "failed", user_id, None, IP, AGENT, None),
        ("login", "failed", None, None, IP, AGENT, "rate_limited"),
        ("login", "failed", None, None, IP, AGENT, "rate_limited"),
        ("login.token", "ok", user_id, sixth_sid, IP2, AGENT, None),
        ("reauth", "failed", user_id, sixth_sid, IP2, AGENT, None),
        ("reauth", "ok", user_id, sixth_sid, IP2, AGENT, None),
        ("password.change", "ok", user_id, sixth_sid, IP2, AGENT, "ended 0 other logins"),
        ("logout.all", "ok", user_id, None, None, None, None),
        ("user.disable", "ok", user_id, None, None, None, None),
        ("key.rotate", "ok", None, None, None, None, f"kid={new_key.kid} alg=EdDSA"),
        ("key.retire", "ok", None, None, None, None, f"kid={old_kid} alg=EdDSA"),
    ]
    assert expected == [(*_fields(e), e.detail) for e in events]
    assert all(clock.now == e.created_at for e in events)  # when: the server's clock
    attributes = ("user_id", "sid", "ip", "user_agent", "detail")
    logged = [
        (r.getMessage(), *(getattr(r, name, None) for name in attributes))
        for r in caplog.records
        if r.name == "gatepass.audit"
    ]
    stored = [
        (f"{e.action} {e.outcome}", e.user_id, e.sid, e.ip, e.user_agent, e.detail) for e in events
    ]
    assert stored == logged[-len(stored) :]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    proc = Server(tmp_path, "--login-limit", "1000/minute", debug_logs=True)
    yield from proc.running()


def _cli_events(server: Server, *extra: str) -> list[dict[str, Any]]:
    result = run_cli("audit", "list", "--limit", "500", "--store", server.store_url, *extra)
    assert 0 == result.returncode, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_audit_list_reads_the_real_servers_trail(server: Server) -> None:
    """Events from a real server (its client address, our user agent) and a `keys rotate`
    are listed by `gatepass audit list`, newest first, and logged on gatepass.audit."""
    source = "127.0.0.3"
    transport = httpx.HTTPTransport(local_address=source)
    headers = {"User-Agent": AGENT}
    with httpx.Client(base_url=server.url, transport=transport, headers=headers) as client:
        email = "cli-audit@example.com"
        creds = {"email": email, "password": PASSWORD}
        user_id = client.post("/auth/register", json=creds).json()["id"]
        client.post("/auth/session/login", json={"email": email, "password": "wrong wrong"})
        tokens = client.post("/auth/token/login", json=creds).json()
        newer = client.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
        client.post("/auth/token/refresh", json={"refresh_token": newer.json()["refresh_token"]})
        client.post("/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
        again = client.post("/auth/token/login", json=creds).json()
        bearer = {"Authorization": f"Bearer {again['access_token']}"}
        assert 204 == client.post("/auth/token/logout", headers=bearer).status_code
    rotated = run_cli("keys", "rotate", "--store", server.store_url)
    assert 0 == rotated.returncode, rotated.stderr
    kid = rotated.stdout.strip()

    events = _cli_events(server)
    assert ["key.rotate", "ok", f"kid={kid} alg=EdDSA"] == [
        events[0]["action"], events[0]["outcome"], events[0]["detail"]
    ]  # fmt: skip
    mine = _cli_events(server, "--user", user_id)
    summary = [(e["action"], e["outcome"], e["ip"], e["user_agent"], e["detail"]) for e in mine]
    assert [
        ("logout", "ok", source, AGENT, None),
        ("login.token", "ok", source, AGENT, None),
        ("refresh", "failed", source, AGENT, "refresh_reused"),
        ("refresh", "ok", source, AGENT, None),
        ("refresh", "ok", source, AGENT, None),
        ("login.token", "ok", source, AGENT, None),
        ("login", "failed", source, AGENT, None),
        ("register", "ok", None, None, None),
    ] == summary
    assert all(isinstance(e["created_at"], int) and e["created_at"] > 0 for e in mine)
    assert all(e["id"] is not None for e in mine)
    server.stop()
    log = server.log()
    audit_lines = [line for line in log.splitlines() if " gatepass.audit " in line]
    assert sum("refresh failed" in line and "refresh_reused" in line for line in audit_lines) == 1
    assert sum(f"'ip': '{source}'" in line for line in audit_lines) >= 7
