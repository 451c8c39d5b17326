"""Fixtures for the security tests: real ``gatepass serve`` processes, one per algorithm.

``servers`` starts four ``python -m gatepass serve --dev`` subprocesses once per test
session, one per signing algorithm (EdDSA, ES256, RS256, HS256), each on a free
loopback port with its own SQLite file in a temporary directory and the fixed issuer
:data:`ISSUER`. They start in parallel, are awaited through ``/healthz`` and are
stopped with SIGTERM (exit code 0) when the session ends. Every test module of this
package may use them; modules that need a server of their own (restarts, other flags)
build a :class:`GatepassServer` directly.

:meth:`GatepassServer.login` registers a fresh user and logs it in over HTTP (token
column, bearer transport); :meth:`GatepassServer.signing_keys` reads the server's keys
from its store, so a test can forge tokens with the server's own key ("insider" tokens
that differ from a genuine one only in the property under attack).

The ``security_report`` fixture collects tables (vector counts, stricter rules found by
the differential test) that :func:`pytest_terminal_summary` prints after the run, since
pytest captures what tests print.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from gatepass._utils import b64url_decode
from gatepass.keys.key import SigningKey
from gatepass.stores import KeyRecord, open_store

#: The signing algorithms a server can be started with (``--signing-alg``).
ALGS: Final = ("EdDSA", "ES256", "RS256", "HS256")
#: ``iss`` of every server here (fixed, so that a restart on another port keeps it).
ISSUER: Final = "https://gatepass.security.test"
AUDIENCE: Final = "gatepass"
PASSWORD: Final = "correct horse battery staple"
STARTUP_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 10.0

_REPORT: dict[str, list[str]] = {}
_EMAILS = itertools.count(1)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, decoded without any check (for building tests)."""
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def token_header(token: str) -> dict[str, Any]:
    """The header of a compact JWS, decoded without any check."""
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


@dataclass(frozen=True)
class TokenLogin:
    """A user registered and logged in over HTTP (token column, bearer transport)."""

    email: str
    user_id: str
    access_token: str
    refresh_token: str
    sid: str


class GatepassServer:
    """One ``gatepass serve --dev`` subprocess on a SQLite file, driven over HTTP.

    Args:
        alg: the ``--signing-alg``.
        root: a directory of its own (SQLite file and log).
        extra: more ``gatepass serve`` flags.
    """

    def __init__(self, alg: str, root: Path, *extra: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.alg = alg
        self.root = root
        self.db = root / "gatepass.db"
        self.store_url = f"sqlite:///{self.db}"
        self.log_path = root / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"GatepassServer({self.alg!r}, {self.url!r})"

    # -- process ---------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        argv = [
            sys.executable, "-m", "gatepass", "serve", "--dev",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--store", self.store_url, "--signing-alg", self.alg,
            "--issuer", ISSUER, "--audience", AUDIENCE,
            "--login-limit", "1000/minute", *self.extra,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self) -> None:
        """Wait until the server has announced itself and ``/healthz`` answers 200."""
        assert self.proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            if f"gatepass listening on {self.url}" in self.log():
                try:
                    if 200 == httpx.get(f"{self.url}/healthz", timeout=1.0).status_code:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"server did not become healthy:\n{self.log()}")

    def start(self) -> GatepassServer:
        """Start the process and wait until it serves."""
        self.launch()
        self.wait_ready()
        return self

    def terminate(self) -> None:
        """Send SIGTERM without waiting (see :meth:`wait_stopped`)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        """Wait for the exit after :meth:`terminate`; assert it was clean (code 0)."""
        if self.proc is None:
            return
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server ignored SIGTERM:\n{self.log()}") from None
        self.proc = None
        assert 0 == code, self.log()

    def stop(self) -> None:
        """SIGTERM; assert a clean exit (code 0) within the timeout."""
        self.terminate()
        self.wait_stopped()

    def kill(self) -> None:
        """SIGKILL if still running (cleanup after a failure)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- HTTP ------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """A keep-alive HTTP client for this server (closed by :meth:`stop`)."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=10.0)
        return self._client

    def me(self, token: str) -> httpx.Response:
        """``GET /auth/me`` with ``Authorization: Bearer <token>``."""
        return self.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})

    def jwks(self) -> dict[str, Any]:
        """The server's ``/.well-known/jwks.json``."""
        response = self.client.get("/.well-known/jwks.json")
        assert 200 == response.status_code, response.text
        body: dict[str, Any] = response.json()
        return body

    def register(self, email: str | None = None) -> tuple[str, str]:
        """Register a user (a fresh email unless given); return (email, user id)."""
        email = email or f"user{next(_EMAILS)}-{uuid.uuid4().hex[:8]}@example.com"
        response = self.client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert 201 == response.status_code, response.text
        return email, str(response.json()["id"])

    def token_login(self, email: str) -> dict[str, Any]:
        """``POST /auth/token/login`` (bearer transport); return the body."""
        response = self.client.post(
            "/auth/token/login", json={"email": email, "password": PASSWORD}
        )
        assert 200 == response.status_code, response.text
        body: dict[str, Any] = response.json()
        return body

    def login(self, email: str | None = None) -> TokenLogin:
        """Register a fresh user (or reuse ``email``) and log in; the token pair and ids."""
        if email is None:
            email, _ = self.register()
        body = self.token_login(email)
        claims = token_claims(body["access_token"])
        return TokenLogin(
            email=email,
            user_id=str(claims["sub"]),
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            sid=str(claims["sid"]),
        )

    # -- keys ------------------------------------------------------------------------------

    def _key_records(self) -> list[KeyRecord]:
        async def read() -> list[KeyRecord]:
            store = open_store(self.store_url)
            try:
                return await store.list_keys()
            finally:
                await store.aclose()

        return asyncio.run(read())

    def signing_keys(self) -> dict[str, SigningKey]:
        """The server's keys that are not retired, by kid, read from its store."""
        return {
            r.kid: SigningKey.from_jwk(r.private_jwk)
            for r in self._key_records()
            if r.status != "retired"
        }

    def active_key(self) -> SigningKey:
        """The key the server signs new tokens with (private: the test can forge with it)."""
        (active,) = [r for r in self._key_records() if r.status == "active"]
        return SigningKey.from_jwk(active.private_jwk)


def start_all(servers: Iterable[GatepassServer]) -> None:
    """Start several servers at once (their start-ups overlap)."""
    servers = list(servers)
    for server in servers:
        server.launch()
    for server in servers:
        server.wait_ready()


def stop_all(servers: Iterable[GatepassServer]) -> None:
    """Stop several servers at once; every one is stopped even if one fails to exit cleanly."""
    servers = list(servers)
    for server in servers:
        server.terminate()
    errors: list[AssertionError] = []
    for server in servers:
        try:
            server.wait_stopped()
        except AssertionError as exc:
            errors.append(exc)
        finally:
            server.kill()
    if errors:
        raise errors[0]


def run_cli(calls: list[tuple[GatepassServer, tuple[str, ...]]]) -> list[str]:
    """Run ``gatepass ARGS`` for each (server, args) in parallel; their stdouts (exit 0).

    ``{store}`` in the arguments stands for the server's store URL. Put ``--`` before a
    kid: a kid may start with ``-``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gatepass", *(a.format(store=server.store_url) for a in args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for server, args in calls
    ]
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=30)
        assert 0 == proc.returncode, stderr
        outputs.append(stdout)
    return outputs


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GatepassServer]]:
    """One running server per signing algorithm, shared by the whole session."""
    root = tmp_path_factory.mktemp("security-servers")
    started = {alg: GatepassServer(alg, root / alg) for alg in ALGS}
    try:
        start_all(started.values())
        yield started
    finally:
        stop_all(started.values())


class SecurityReport:
    """Named tables printed in the terminal summary (tests add, the hook prints)."""

    def add(self, title: str, lines: list[str]) -> None:
        """Record (or replace) the table ``title``."""
        _REPORT[title] = list(lines)


@pytest.fixture(scope="session")
def security_report() -> SecurityReport:
    """Where tests put the tables they want shown after the run."""
    return SecurityReport()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every table the security tests recorded."""
    for title, lines in _REPORT.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
