"""Browser tests: Debian's Chromium driven by Playwright for Python, against real servers.

Everything is real and on loopback: ``gatepass serve`` subprocesses in secure mode
(``Secure`` ``__Host-`` cookies; Chromium treats ``http://127.0.0.1`` as a secure
context, so plain http carries them), the example API service under uvicorn on the
same SQLite file, and an "attacker" origin on other ports. The browser is
``/usr/bin/chromium`` (``.ci/run`` installs it with apt), never a downloaded one.

Without Chromium or Playwright these tests skip locally and *fail* under ``CI=true``.
Screenshots go to ``$GATEPASS_SCREENSHOTS`` (default ``build/screenshots``);
``make screenshots`` writes the current ones to ``docs/img/browser``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.servers import ROOT, ServerProcess, free_port, unavailable, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery staple"
#: Access-token lifetime of the ``short_site`` server, seconds.
SHORT_TTL = 3
SCREENSHOTS = Path(os.environ.get("GATEPASS_SCREENSHOTS", ROOT / "build" / "screenshots"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module; each test opens its own contexts.

    Module scope, not session: Playwright's sync API keeps an asyncio loop running in
    this thread while it is open, and the anyio tests that follow need the thread free.
    """
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        unavailable(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev install has it
        unavailable("browser tests need playwright (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", *CHROMIUM_ARGS]
        )
        try:
            yield Browser(chromium)
        finally:
            chromium.close()


#: Playwright's waits (30 s by default) are cut so a broken page fails fast.
WAIT_MS = 10_000


class Browser:
    """The launched Chromium; its contexts wait at most :data:`WAIT_MS` for anything."""

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium

    def new_context(self, **options: Any) -> Any:
        context = self.chromium.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        return context


@pytest.fixture
def context(browser: Browser) -> Iterator[Any]:
    """A fresh browser context (its own cookies and storage) for one test."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


class ApiService:
    """``examples/api_service.py`` under uvicorn, trusting one auth server."""

    def __init__(self, auth: ServerProcess, log: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
        env.update(
            GATEPASS_URL=auth.url,
            GATEPASS_ISSUER=auth.issuer,
            GATEPASS_STORE=f"sqlite:///{auth.db}",
            GATEPASS_ALLOWED_ORIGINS=auth.url,
            GATEPASS_LEEWAY="0",
            # keep an inherited PYTHONPATH (say src of a worktree) after the examples' root
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        argv = [
            sys.executable, "-m", "uvicorn", "examples.api_service:app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT
            )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"API service exited:\n{log.read_text()}")
            try:
                return 401 == httpx.get(f"{self.url}/orders", timeout=1.0).status_code
            except httpx.TransportError:
                return False

        wait_until(ready, 20.0, "the API service to answer")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def secure_server(root: Path, name: str, *extra: str) -> ServerProcess:
    port = free_port()
    return ServerProcess(
        root / f"{name}.db",
        root / f"{name}.log",
        "--allowed-origin", f"http://127.0.0.1:{port}",
        "--login-limit", "1000/minute",
        *extra,
        port=port,
        dev=False,
    ).start()  # fmt: skip


class Site:
    """The demo as a person runs it: the auth server and the example API service."""

    def __init__(self, root: Path, name: str, access_ttl: int) -> None:
        api_port = free_port()
        self.server = secure_server(
            root, name, "--access-ttl", str(access_ttl), "--leeway", "0",
            "--demo-api", f"http://127.0.0.1:{api_port}",
        )  # fmt: skip
        try:
            self.api = ApiService(self.server, root / f"{name}-api.log", api_port)
        except BaseException:
            self.server.stop()
            raise

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.api.stop()
        self.server.stop()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Auth server + API service with 10-minute access tokens."""
    demo = Site(tmp_path_factory.mktemp("site"), "site", 600)
    yield demo
    demo.stop()


@pytest.fixture(scope="session")
def short_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Auth server + API service whose access tokens live 3 s (no leeway), so that the
    tests see them expire and the page refresh them."""
    demo = Site(tmp_path_factory.mktemp("short"), "short", SHORT_TTL)
    yield demo
    demo.stop()


@pytest.fixture(scope="session")
def server(site: Site) -> ServerProcess:
    return site.server


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own for the rate-limit and expiry messages (2 failures/minute,
    3 s idle sessions), so its counters touch no other test."""
    server = secure_server(
        tmp_path, "strict", "--session-idle-ttl", "3", "--login-limit", "2/minute"
    )
    try:
        yield server
    finally:
        server.stop()


class _Attacker(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[Callable[[str, str], str]]:
    """``host(path, html)`` serves a page on another loopback port and returns its URL
    on 127.0.0.1 (same site, other origin); swap in ``localhost`` for another site."""
    handler: type[_Attacker] = type("Pages", (_Attacker,), {"pages": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]

    def host(path: str, html: str) -> str:
        handler.pages[path] = html
        return f"http://127.0.0.1:{port}{path}"

    try:
        yield host
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def snap(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``snap(page, name)``: a full-page PNG in the screenshots folder."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000, f"empty screenshot {path}"
        return path

    return take


_counter = iter(range(1, 1_000_000))


def new_email(label: str) -> str:
    """A unique address for one test's user."""
    return f"{label}-{os.getpid()}-{next(_counter)}-{time.monotonic_ns() % 10**9}@example.com"
