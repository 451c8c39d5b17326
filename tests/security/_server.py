"""Helpers of the security suite: a real ``gatepass serve`` subprocess and cookie handling.

:class:`Server` runs ``python -m gatepass serve`` on a free loopback port with a SQLite
file, captures stdout and stderr (uvicorn's access log and every log line) in a file,
waits for ``/healthz`` and stops with SIGTERM. With ``debug_logs=True`` the process is
started through a two-line bootstrap that first configures the root logger at DEBUG,
so every record of every logger (``gatepass.*`` included) reaches the captured output.

Outside ``--dev`` the server's cookies are ``Secure`` and ``__Host-`` prefixed, so an
http client (httpx) would rightly never send them back over plain http. :class:`Browser`
therefore keeps its own cookie jar from the ``Set-Cookie`` headers it sees and sends it
explicitly, the way a browser behind the deployer's TLS proxy would.

Requests can come from any 127.0.0.0/8 source address (``Server.client(source=...)``):
the server sees that address as the client (uvicorn runs with proxy headers off), which
is how the throttling tests simulate several machines from one.

:func:`inprocess` runs the same app in-process (lifespan driven, FakeClock, httpx
ASGITransport) for what a real process cannot do: move the clock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gatepass.passwords import Argon2Hasher
from gatepass.server.app import create_app
from gatepass.server.context import ServerContext
from gatepass.server.settings import ServerSettings
from tests.conftest import FAST_PASSWORDS, FakeClock
from tests.lifespan import lifespan

PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
#: Runs ``gatepass`` with every log record at DEBUG on stderr, with all its attributes
#: (so values passed as ``extra`` or as format arguments are visible to a scan too).
_BOOTSTRAP = """
import logging, sys

class EverythingFormatter(logging.Formatter):
    def format(self, record):
        return super().format(record) + " " + repr(vars(record))

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(EverythingFormatter("%(levelname)s %(name)s %(message)s"))
logging.basicConfig(level=logging.DEBUG, handlers=[handler])
from gatepass.cli import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``gatepass serve`` subprocess on a SQLite file in ``root``."""

    def __init__(
        self, root: Path, *flags: str, dev: bool = False, debug_logs: bool = False
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.db = root / "gatepass.db"
        self.log_path = root / "server.log"
        self.port = free_port()
        self.dev = dev
        self.url = f"http://127.0.0.1:{self.port}"
        #: The origin browsers see (the deployer's TLS proxy in front, outside --dev).
        self.origin = f"{'http' if dev else 'https'}://127.0.0.1:{self.port}"
        self.store_url = f"sqlite:///{self.db}"
        self.flags = flags
        self.debug_logs = debug_logs
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: list[httpx.Client] = []

    def argv(self) -> list[str]:
        """The command line that starts the server."""
        head = [sys.executable, "-c", _BOOTSTRAP] if self.debug_logs else [
            sys.executable, "-m", "gatepass",
        ]  # fmt: skip
        mode = ["--dev"] if self.dev else []
        return [
            *head, "serve", *mode, "--host", "127.0.0.1", "--port", str(self.port),
            "--store", self.store_url, *self.flags,
        ]  # fmt: skip

    def start(self) -> Server:
        """Start the process and wait until it announces itself and /healthz answers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            if f"gatepass listening on {self.url}" in self.log():
                try:
                    if 200 == httpx.get(f"{self.url}/healthz", timeout=2.0).status_code:
                        return self
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """An httpx client whose connections come from ``source`` (a 127.0.0.0/8 address)."""
        transport = httpx.HTTPTransport(local_address=source)
        client = httpx.Client(
            transport=transport, base_url=self.url, timeout=30.0, follow_redirects=False
        )
        self._clients.append(client)
        return client

    def browser(self, source: str = "127.0.0.1", user_agent: str = "catalogue") -> Browser:
        """A :class:`Browser` from ``source``."""
        return Browser(self.client(source), self.origin, user_agent)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (code 0); kill if it hangs."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"server ignored SIGTERM:\n{self.log()}") from None
        assert 0 == code, self.log()

    def kill(self) -> None:
        """Kill the process if it still runs (cleanup after a failure)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def running(self) -> Iterator[Server]:
        """Start, yield the server, then stop it (and kill it if stopping fails): the body
        of a fixture, ``yield from Server(...).running()``."""
        self.start()
        try:
            yield self
        finally:
            try:
                self.stop()
            finally:
                self.kill()


# -- cookies ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetCookie:
    """One parsed ``Set-Cookie`` header: name, value and attributes (lower-case keys)."""

    raw: str
    name: str
    value: str
    attrs: dict[str, str]

    def has(self, attribute: str) -> bool:
        """Whether the attribute (any case) is present."""
        return attribute.lower() in self.attrs

    def get(self, attribute: str) -> str | None:
        """The attribute's value, ``""`` for a flag, ``None`` when absent."""
        return self.attrs.get(attribute.lower())

    @property
    def deletes(self) -> bool:
        """Whether this header deletes the cookie (``Max-Age=0`` or an Expires in 1970)."""
        return self.get("max-age") == "0" or "1970" in (self.get("expires") or "")


def parse_set_cookie(raw: str) -> SetCookie:
    """Parse one ``Set-Cookie`` value (flags such as ``Secure`` map to ``""``)."""
    first, *rest = raw.split(";")
    name, _, value = first.partition("=")
    attrs: dict[str, str] = {}
    for part in rest:
        key, _, val = part.strip().partition("=")
        attrs[key.strip().lower()] = val.strip()
    return SetCookie(raw, name.strip(), value.strip(), attrs)


def set_cookies(response: httpx.Response) -> dict[str, SetCookie]:
    """Every ``Set-Cookie`` of a response, by cookie name."""
    parsed = (parse_set_cookie(raw) for raw in response.headers.get_list("set-cookie"))
    return {cookie.name: cookie for cookie in parsed}


def cookie_header(cookies: Mapping[str, str]) -> str:
    """A ``Cookie`` header value for these name/value pairs, in order."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


@dataclass
class Browser:
    """An http client with its own cookie jar (Secure cookies over the TLS proxy's http).

    ``request`` sends the jar as a ``Cookie`` header (unless ``cookies`` overrides it)
    and applies the response's ``Set-Cookie`` headers to the jar afterwards.
    """

    http: httpx.Client
    origin: str
    user_agent: str = "catalogue"
    jar: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        jar = self.jar if cookies is None else cookies
        if jar:
            sent["Cookie"] = cookie_header(jar)
        response = self.http.request(method, path, headers=sent, **kwargs)
        self.http.cookies.clear()
        for cookie in set_cookies(response).values():
            if cookie.deletes:
                self.jar.pop(cookie.name, None)
            else:
                self.jar[cookie.name] = cookie.value
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def csrf(self, token: str, origin: str | None = None) -> dict[str, str]:
        """The headers of a same-origin unsafe request: Origin and X-CSRF-Token."""
        return {"Origin": origin or self.origin, "X-CSRF-Token": token}


# -- flows --------------------------------------------------------------------------------


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object body of a response."""
    body = response.json()
    assert isinstance(body, dict), response.text
    return body


def register(client: Browser | httpx.Client, email: str, password: str = PASSWORD) -> str:
    """Register a user through the API; return its id."""
    response = client.post("/auth/register", json={"email": email, "password": password})
    assert 201 == response.status_code, response.text
    return str(json_of(response)["id"])


def login(
    client: Browser | httpx.Client, path: str, email: str, password: str = PASSWORD, **extra: str
) -> dict[str, Any]:
    """A successful JSON login (session or token); return the body."""
    response = client.post(path, json={"email": email, "password": password, **extra})
    assert 200 == response.status_code, response.text
    return json_of(response)


def error_code(response: httpx.Response) -> tuple[int, str]:
    """(status, error code) of an API error response, after checking its exact shape."""
    body = json_of(response)
    assert ["detail", "error"] == sorted(body), response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, str(body["error"])


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization: Bearer`` header."""
    return {"Authorization": f"Bearer {token}"}


# -- in-process ---------------------------------------------------------------------------


@dataclass
class InProcess:
    """The auth server app in-process with its lifespan running, and client factory."""

    asgi: Any
    ctx: ServerContext
    base_url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, ip: str = "10.0.0.1", port: int = 40000) -> httpx.AsyncClient:
        """A client whose requests come from ``(ip, port)`` (uvicorn's peer address)."""
        transport = httpx.ASGITransport(app=self.asgi, client=(ip, port))
        client = httpx.AsyncClient(transport=transport, base_url=self.base_url)
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def inprocess(
    settings: ServerSettings, clock: FakeClock | None = None, *, fast_hashing: bool = True
) -> AsyncIterator[InProcess]:
    """Run ``create_app(settings)`` in-process; cheap argon2 unless ``fast_hashing=False``."""
    app = create_app(settings, clock=clock) if clock is not None else create_app(settings)
    async with lifespan(app) as (asgi, state):
        ctx: ServerContext = state["gatepass"]
        if fast_hashing:
            ctx.authenticator.hasher = Argon2Hasher(FAST_PASSWORDS)
        scheme = "http" if settings.dev else "https"
        live = InProcess(asgi, ctx, f"{scheme}://{settings.host}:{settings.port}")
        try:
            yield live
        finally:
            for client in live.clients:
                await client.aclose()


def contains_any(text: str, needles: Iterable[str]) -> list[str]:
    """The needles (non-empty) that occur in ``text``."""
    return [n for n in needles if n and n in text]
