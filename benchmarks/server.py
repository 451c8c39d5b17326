"""The uvicorn process under test and the load runs against it (wrk, or a Python fallback).

:class:`Server` starts ``uvicorn benchmarks.apps:create_app --factory`` (1 worker, uvloop
and httptools when installed) on a free loopback port and stops it by its PID.
:func:`load_run` reads the server's CPU time from ``/proc/<pid>/stat`` (utime + stime)
just before and after one wrk run (``--latency``, a Lua script rotating the endpoint's
header sets), so the CPU per request excludes the load generator.
:func:`interleaved_run` sends an endpoint's requests and the open endpoint's in the same
run, and reads what the clocked app (:mod:`benchmarks.clock`) counted for each.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.apps import CONFIG_ENV
from benchmarks.clock import CLOCK_PATH, Clocks
from benchmarks.load import build_request, http_load

__all__ = [
    "CLK_TCK",
    "REPO_ROOT",
    "Endpoint",
    "Run",
    "Server",
    "fetch_clock",
    "importable",
    "interleaved_run",
    "load_run",
    "parse_wrk",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Endpoint:
    """One row of the HTTP table: a path and the header sets its requests rotate over."""

    name: str
    path: str
    headers: list[dict[str, str]]
    group: str  # baseline, gatepass JWT, gatepass session, anchor
    method: str = "GET"
    body: bytes = b""
    #: The local session cache's TTL (seconds) when the endpoint reads through one, else
    #: 0: an interleaved run then lasts whole TTLs after a warm-up longer than one, so it
    #: pays each entry's refresh from the store as a steady stream of requests does.
    cache_ttl: float = 0.0


@dataclass
class Run:
    """One measured load run against one endpoint."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU µs per request
    non_2xx: int
    errors: int


@dataclass
class Server:
    """A uvicorn process serving :mod:`benchmarks.apps` on a loopback port."""

    config: dict[str, Any]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    #: A command the server runs under (valgrind for the instruction counts), or none.
    wrapper: list[str] = field(default_factory=list)
    log: Path | None = None
    loop: str = "asyncio"
    http: str = "h11"
    _tmp: Any = field(default=None, repr=False)

    def start(self, timeout: float = 180.0) -> None:
        """Start uvicorn and wait until ``/open`` answers."""
        self._tmp = tempfile.TemporaryDirectory(prefix="gatepass-bench-http-")
        tmp = Path(self._tmp.name)
        config_path = tmp / "app.json"
        config_path.write_text(json.dumps(self.config))
        self.log = tmp / "server.log"
        self.port = _free_port()
        self.loop = "uvloop" if importable("uvloop") else "asyncio"
        self.http = "httptools" if importable("httptools") else "h11"
        env = dict(os.environ)
        env[CONFIG_ENV] = str(config_path)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        command = [
            *self.wrapper, sys.executable, "-m", "uvicorn",
            "benchmarks.apps:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--loop", self.loop,
            "--http", self.http, "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text()[-2000:]}")
            if _get_ok(self.port, "/open"):
                return
            time.sleep(0.2)
        raise RuntimeError("uvicorn did not start in time")

    def cpu_seconds(self) -> float:
        """utime + stime of the server process so far, seconds."""
        assert self.process is not None
        text = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mib(self) -> float:
        """Resident set size of the server, MiB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        """Stop the server (by its PID) and remove its temporary files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_ok(port: int, path: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(build_request(path, {"Connection": "close"}))
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# -- load -------------------------------------------------------------------------------


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sequence(endpoint: Endpoint, alternate: str | None) -> list[tuple[str, dict[str, str]]]:
    """The (path, headers) each load thread cycles over: the endpoint's header sets, each
    sent to ``alternate`` (an open path) and then to the endpoint, when there is one."""
    paths = [endpoint.path] if alternate is None else [alternate, endpoint.path]
    return [(path, headers) for headers in endpoint.headers for path in paths]


def _wrk_script(endpoint: Endpoint, alternate: str | None = None) -> str:
    sequence = _sequence(endpoint, alternate)
    items = ",\n".join(
        "{" + _lua_string(path) + ", {"
        + ", ".join(f"[{_lua_string(k)}]={_lua_string(v)}" for k, v in headers.items())
        + "}}"
        for path, headers in sequence
    )  # fmt: skip
    body = _lua_string(endpoint.body.decode("latin-1")) if endpoint.body else "nil"
    start = "math.random(#reqs)" if alternate is None else "2 * math.random(#reqs / 2)"
    return f"""local items = {{
{items}
}}
local reqs = {{}}
local counter = 0
init = function(args)
  for i, item in ipairs(items) do
    reqs[i] = wrk.format({_lua_string(endpoint.method)}, item[1], item[2], {body})
  end
  counter = {start}
end
request = function()
  counter = counter % #reqs + 1
  return reqs[counter]
end
"""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """requests, seconds, p50/p99 (ms), non-2xx and socket errors from wrk's output."""
    found: dict[str, float] = {"non_2xx": 0.0, "errors": 0.0}
    if match := re.search(r"(\d+) requests in ([\d.]+)(m?s)", output):
        found["requests"] = float(match.group(1))
        found["seconds"] = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    for label, key in (("50%", "p50"), ("99%", "p99")):
        if match := re.search(rf"^\s*{label}\s+(\S+)", output, re.MULTILINE):
            found[key] = _ms(match.group(1))
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        found["non_2xx"] = float(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        found["errors"] = float(sum(int(g) for g in match.groups()))
    return found


async def load_run(
    server: Server,
    endpoint: Endpoint,
    seconds: float,
    *,
    threads: int,
    connections: int,
    script_dir: Path,
    alternate: str | None = None,
) -> Run:
    """One measured run: server CPU before/after, wrk (or the Python generator) between.

    With ``alternate`` (an open path), each header set is sent to it and then to the
    endpoint: half the run's requests each (see :func:`interleaved_run`).
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        requests = [
            build_request(path, h, method=endpoint.method, body=endpoint.body)
            for path, h in _sequence(endpoint, alternate)
        ]
        cpu0 = server.cpu_seconds()
        result = await http_load(server.port, requests, connections=connections, duration=seconds)
        cpu = server.cpu_seconds() - cpu0
        return Run(
            result.requests, result.rps, result.p50_ms, result.p99_ms,
            cpu / max(1, result.requests) * 1e6, result.non_2xx, result.errors,
        )  # fmt: skip
    key = (endpoint.name, endpoint.path, alternate)
    script = script_dir / f"{abs(hash(key)):x}.lua"
    if not script.exists():
        script.write_text(_wrk_script(endpoint, alternate))
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-s", str(script), f"http://127.0.0.1:{server.port}",
    ]  # fmt: skip
    cpu0 = server.cpu_seconds()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 30)
    cpu = server.cpu_seconds() - cpu0
    found = parse_wrk(out.decode("utf-8", "replace"))
    done = int(found.get("requests", 0))
    return Run(
        done,
        done / found.get("seconds", seconds) if done else 0.0,
        found.get("p50", float("nan")),
        found.get("p99", float("nan")),
        cpu / max(1, done) * 1e6,
        int(found["non_2xx"]),
        int(found["errors"]),
    )


def fetch_clock(port: int) -> dict[str, Any]:
    """``GET /_clock`` of a server whose app is clocked; its totals start again."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(build_request(CLOCK_PATH, {"Connection": "close"}))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{CLOCK_PATH} answered {head[:40]!r}: is the app clocked?")
    answer: dict[str, Any] = json.loads(body)
    return answer


async def interleaved_run(
    server: Server,
    endpoint: Endpoint,
    open_path: str,
    seconds: float,
    *,
    threads: int,
    connections: int,
    script_dir: Path,
) -> tuple[Run, Clocks]:
    """One run of ``endpoint`` interleaved with ``open_path`` on a clocked server (the
    app configuration's ``"clock": true``): the load run, and the app's CPU time per path
    with what the process spent beyond it."""
    fetch_clock(server.port)
    run = await load_run(
        server, endpoint, seconds, threads=threads, connections=connections,
        script_dir=script_dir, alternate=open_path,
    )  # fmt: skip
    process_ns = round(run.cpu_us * max(1, run.requests) * 1e3)
    return run, Clocks.from_answer(fetch_clock(server.port), process_ns)
