"""Helpers for tests that run real processes on loopback: ports, waiting, and a
``gatepass serve`` subprocess (dev or secure mode) on a SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def unavailable(reason: str, *, setting: str | None = None) -> NoReturn:
    """Skip the test, or fail it under ``CI=true`` (a CI run never passes by skipping).

    ``setting`` names the environment variable that points the tests at the service.
    """
    if os.environ.get("CI") == "true":
        hint = f" (set {setting})" if setting else ""
        pytest.fail(f"{reason}; CI=true requires it{hint}")
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Call ``check()`` until it returns True; AssertionError after ``timeout`` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class ServerProcess:
    """One ``gatepass serve`` subprocess on a SQLite file (``--dev`` unless ``dev=False``).

    Awaited through its announcement and ``/healthz``; stopped with SIGTERM (a clean
    exit, code 0, within :data:`STOP_TIMEOUT`).
    """

    def __init__(
        self, db: Path, log: Path, *extra: str, port: int | None = None, dev: bool = True
    ) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.extra = extra
        self.dev = dev
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        """The ``iss`` of its tokens: its base URL, ``https`` outside dev mode."""
        return self.url if self.dev else self.url.replace("http://", "https://", 1)

    def start(self) -> ServerProcess:
        argv = [
            sys.executable, "-m", "gatepass", "serve", *(["--dev"] if self.dev else []),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--store", f"sqlite:///{self.db}", *self.extra,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            if f"gatepass listening on {self.url}" in self.log():
                try:
                    if 200 == httpx.get(f"{self.url}/healthz", timeout=1.0).status_code:
                        return self
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"server did not announce itself and become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> float:
        """SIGTERM; assert a clean exit (code 0) in time; return how long it took."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server ignored SIGTERM:\n{self.log()}") from None
        assert 0 == code, self.log()
        self.proc = None
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
