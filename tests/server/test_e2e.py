"""End to end: a real ``python -m gatepass serve`` process driven over the network.

Each server runs in a subprocess on a free loopback port with a SQLite file, is
awaited through ``/healthz`` and stopped with SIGTERM (exit 0 within a few seconds).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gatepass._utils import b64url_decode, b64url_encode
from tests.servers import STARTUP_TIMEOUT, STOP_TIMEOUT, ServerProcess

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the flows that need default lifetimes."""
    root = tmp_path_factory.mktemp("e2e")
    proc = ServerProcess(root / "gp.db", root / "server.log", "--login-limit", "1000/minute")
    proc.start()
    try:
        yield proc
    finally:
        if proc.proc is not None:
            took = proc.stop()
            assert took < STOP_TIMEOUT
        proc.kill()


def register(client: httpx.Client, email: str) -> dict[str, Any]:
    response = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert 201 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def login(client: httpx.Client, path: str, email: str, **extra: str) -> dict[str, Any]:
    response = client.post(path, json={"email": email, "password": PASSWORD, **extra})
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_session_column(server: ServerProcess) -> None:
    """Session login -> /auth/me -> /auth/sessions -> logout -> 401, over real HTTP."""
    with httpx.Client(base_url=server.url) as client:
        user = register(client, "session@example.com")
        body = login(client, "/auth/session/login", "session@example.com")
        me = client.get("/auth/me").json()
        assert (user["id"], "session", body["session_id"]) == (
            me["id"],
            me["auth"]["method"],
            me["auth"]["sid"],
        )
        sessions = client.get("/auth/sessions").json()["sessions"]
        assert [(body["session_id"], "127.0.0.1", True)] == [
            (s["id"], s["ip"], s["current"]) for s in sessions
        ]
        response = client.post(
            "/auth/session/logout",
            headers={"X-CSRF-Token": body["csrf_token"], "Origin": server.url},
        )
        assert 204 == response.status_code
        assert (401, "invalid_token") == error_of(client.get("/auth/me"))


def test_token_column(server: ServerProcess) -> None:
    """Token login -> Bearer me -> refresh -> reuse -> refresh_reused -> tokens refused."""
    with httpx.Client(base_url=server.url) as client:
        register(client, "token@example.com")
        first = login(client, "/auth/token/login", "token@example.com")
        me = client.get("/auth/me", headers=bearer(first["access_token"]))
        assert "jwt" == me.json()["auth"]["method"]
        second = client.post("/auth/token/refresh", json={"refresh_token": first["refresh_token"]})
        third = client.post(
            "/auth/token/refresh", json={"refresh_token": second.json()["refresh_token"]}
        )
        assert (200, 200) == (second.status_code, third.status_code)
        reused = client.post("/auth/token/refresh", json={"refresh_token": first["refresh_token"]})
        assert (401, "refresh_reused") == error_of(reused)
        for token in (first["access_token"], third.json()["access_token"]):
            response = client.get("/auth/me", headers=bearer(token))
            assert (401, "token_revoked") == error_of(response)
        response = client.post(
            "/auth/token/refresh", json={"refresh_token": third.json()["refresh_token"]}
        )
        assert 401 == response.status_code


def test_token_cookie_transport(server: ServerProcess) -> None:
    """Cookie tokens: me by cookie; refresh needs the CSRF header; logout clears them."""
    with httpx.Client(base_url=server.url) as client:
        register(client, "cookie@example.com")
        body = login(client, "/auth/token/login", "cookie@example.com", transport="cookie")
        assert {"gp_access", "gp_refresh", "gp_csrf"} == set(client.cookies.keys())
        assert "jwt" == client.get("/auth/me").json()["auth"]["method"]
        assert (403, "csrf_failed") == error_of(client.post("/auth/token/refresh"))
        old = client.cookies["gp_refresh"]
        headers = {"X-CSRF-Token": body["csrf_token"], "Origin": server.url}
        assert 200 == client.post("/auth/token/refresh", headers=headers).status_code
        assert old != client.cookies["gp_refresh"]
        assert 204 == client.post("/auth/token/logout", headers=headers).status_code
        assert (401, "invalid_token") == error_of(client.get("/auth/me"))


def test_exchange(server: ServerProcess) -> None:
    """A session exchanges for a JWT bound to it; logging out the session kills the JWT."""
    with httpx.Client(base_url=server.url) as client:
        register(client, "exchange@example.com")
        body = login(client, "/auth/session/login", "exchange@example.com")
        headers = {"X-CSRF-Token": body["csrf_token"]}
        token = client.post("/auth/token/exchange", headers=headers).json()["access_token"]
        with httpx.Client(base_url=server.url) as api:
            me = api.get("/auth/me", headers=bearer(token)).json()
            assert body["session_id"] == me["auth"]["sid"]
            assert 204 == client.post("/auth/session/logout", headers=headers).status_code
            assert (401, "token_revoked") == error_of(api.get("/auth/me", headers=bearer(token)))


def verify_offline(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Check an EdDSA JWS by hand with the JWK Set and `cryptography` only."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert ("OKP", "Ed25519", "EdDSA") == (jwk["kty"], jwk["crv"], header["alg"])
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    key.verify(b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))
    claims: dict[str, Any] = json.loads(b64url_decode(payload_b64))
    return claims


def test_jwks_verifies_tokens_offline(server: ServerProcess) -> None:
    """The published JWK verifies an access token with nothing but `cryptography`."""
    with httpx.Client(base_url=server.url) as client:
        register(client, "jwks@example.com")
        token = login(client, "/auth/token/login", "jwks@example.com")["access_token"]
        jwks = client.get("/.well-known/jwks.json").json()
    claims = verify_offline(token, jwks)
    assert server.url == claims["iss"]
    header, _, signature = token.split(".")
    forged = json.dumps({**claims, "sub": "someone-else"}, separators=(",", ":")).encode()
    with pytest.raises(InvalidSignature):
        verify_offline(f"{header}.{b64url_encode(forged)}.{signature}", jwks)


@pytest.mark.anyio
async def test_concurrent_refreshes_never_fork_the_family(server: ServerProcess) -> None:
    """20 simultaneous refreshes of one token yield at most one successor, which works."""
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        await client.post(
            "/auth/register", json={"email": "race@example.com", "password": PASSWORD}
        )
        response = await client.post(
            "/auth/token/login", json={"email": "race@example.com", "password": PASSWORD}
        )
        token = response.json()["refresh_token"]
        responses = await asyncio.gather(
            *(client.post("/auth/token/refresh", json={"refresh_token": token}) for _ in range(20))
        )
        statuses = {r.status_code for r in responses}
        assert statuses <= {200, 401}
        successors = {r.json()["refresh_token"] for r in responses if r.status_code == 200}
        assert 1 == len(successors)
        (successor,) = successors
        after = await client.post("/auth/token/refresh", json={"refresh_token": successor})
        assert 200 == after.status_code
        stale = await client.post("/auth/token/refresh", json={"refresh_token": token})
        assert (401, "refresh_reused") == error_of(stale)


def test_expiry_in_real_time(tmp_path: Path) -> None:
    """With 2 s lifetimes, a session and an access token are refused ~3 s later."""
    proc = ServerProcess(
        tmp_path / "gp.db",
        tmp_path / "server.log",
        "--access-ttl", "2", "--session-idle-ttl", "2", "--leeway", "0",
    )  # fmt: skip
    proc.start()
    try:
        with httpx.Client(base_url=proc.url) as client:
            register(client, "short@example.com")
            login(client, "/auth/session/login", "short@example.com")
            token = login(client, "/auth/token/login", "short@example.com")["access_token"]
            assert 200 == client.get("/auth/me").status_code
            assert 200 == client.get("/auth/me", headers=bearer(token)).status_code
            time.sleep(3.2)
            assert (401, "session_expired") == error_of(client.get("/auth/me"))
            client.cookies.clear()
            response = client.get("/auth/me", headers=bearer(token))
            assert (401, "token_expired") == error_of(response)
    finally:
        proc.stop()
        proc.kill()


def test_restart_keeps_users_sessions_and_keys(tmp_path: Path) -> None:
    """After SIGTERM and a restart on the same file, old credentials and the kid still work."""
    proc = ServerProcess(tmp_path / "gp.db", tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=proc.url) as client:
            register(client, "durable@example.com")
            login(client, "/auth/session/login", "durable@example.com")
            tokens = login(client, "/auth/token/login", "durable@example.com")
            kid = client.get("/.well-known/jwks.json").json()["keys"][0]["kid"]
            cookie = client.cookies["gp_session"]
        assert proc.stop() < STOP_TIMEOUT
        proc.start()
        with httpx.Client(base_url=proc.url) as client:
            client.cookies.set("gp_session", cookie)
            assert "session" == client.get("/auth/me").json()["auth"]["method"]
            client.cookies.clear()
            me = client.get("/auth/me", headers=bearer(tokens["access_token"]))
            assert "jwt" == me.json()["auth"]["method"]
            assert [kid] == [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
            response = client.post(
                "/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert 200 == response.status_code
            login(client, "/auth/session/login", "durable@example.com")
    finally:
        if proc.proc is not None:
            proc.stop()
        proc.kill()


@pytest.mark.anyio
async def test_sigterm_during_a_burst_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """Every registration that got 201 before SIGTERM can log in after a restart."""
    proc = ServerProcess(
        tmp_path / "gp.db", tmp_path / "server.log", "--login-limit", "1000/minute"
    ).start()
    try:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=proc.url, timeout=10, limits=limits) as client:

            async def one(n: int) -> str | None:
                try:
                    response = await client.post(
                        "/auth/register",
                        json={"email": f"burst{n}@example.com", "password": PASSWORD},
                    )
                except httpx.TransportError:
                    return None
                return f"burst{n}@example.com" if response.status_code == 201 else None

            tasks = [asyncio.create_task(one(n)) for n in range(60)]
            while sum(t.done() for t in tasks) < 5:
                await asyncio.sleep(0.01)
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            created = [email for email in await asyncio.gather(*tasks) if email]
        code = await asyncio.to_thread(proc.proc.wait, STOP_TIMEOUT)
        assert 0 == code, proc.log()
        proc.proc = None
        assert len(created) >= 5
        proc.start()
        async with httpx.AsyncClient(base_url=proc.url, timeout=20) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/auth/token/login", json={"email": email, "password": PASSWORD})
                    for email in created
                )
            )
        assert [200] * len(created) == [r.status_code for r in responses]
    finally:
        if proc.proc is not None:
            proc.stop()
        proc.kill()


def test_port_zero_prints_the_real_port(tmp_path: Path) -> None:
    """With --port 0 the printed URL has the bound port, which the settings use too."""
    argv = [sys.executable, "-m", "gatepass", "serve", "--dev", "--port", "0",
            "--store", f"sqlite:///{tmp_path / 'gp.db'}"]  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        marker = "gatepass listening on http://127.0.0.1:"
        while marker not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        line = next(x for x in log.read_text().splitlines() if x.startswith(marker))
        port = int(line.removeprefix(marker))
        assert 0 < port
        url = f"http://127.0.0.1:{port}"
        assert 200 == httpx.get(f"{url}/healthz").status_code
        assert [{"url": url}] == httpx.get(f"{url}/openapi.json").json()["servers"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert 0 == proc.wait(timeout=STOP_TIMEOUT)


def test_startup_failure_exits_1(tmp_path: Path) -> None:
    """A store that cannot open makes `serve` exit 1 with a message, not hang."""
    argv = [sys.executable, "-m", "gatepass", "serve", "--dev", "--port", "0",
            "--store", f"sqlite:///{tmp_path / 'missing' / 'gp.db'}"]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=STARTUP_TIMEOUT, check=False
    )
    assert 1 == done.returncode
    assert "gatepass serve: the server failed to start" in done.stderr
    assert "gatepass listening" not in done.stdout
