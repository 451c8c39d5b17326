"""Server instructions per request, counted by callgrind: the repeatable view of section 3.

Server CPU time on a shared 2-core machine drifts by tens of percent from one second to
the next; the number of instructions the server executes per request does not. The same
app (:mod:`benchmarks.apps`) runs under ``valgrind --tool=callgrind``. For each endpoint,
after a warm-up, the counters are zeroed (``callgrind_control -z``), N requests are sent
one after another on one keep-alive connection (the bytes wrk sends), and the counters
are dumped (``callgrind_control -d``). The server runs no background jobs here
(``"background": false``: its synced revocation feeds are trusted instead), since their
timers fire by the wall clock while everything under callgrind runs about 50 times
slower: they would swamp the counts. Instructions are not time (a cache miss costs more
than an add), so this complements the CPU-time table, it does not replace it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Progress
from benchmarks.load import build_request
from benchmarks.server import REPO_ROOT, Endpoint, Server

__all__ = [
    "NOTE",
    "Counts",
    "callgrind_totals",
    "count_instructions",
    "count_segments",
    "unavailable",
]

NOTE = (
    "Instructions per request: the app under valgrind --tool=callgrind (1 worker, same "
    "loop and parser); per endpoint a warm-up that visits every session id, then the "
    "counters zeroed, the requests sent one after another on one keep-alive connection "
    "(wrk's bytes), the counters dumped. The server runs no background jobs while counted "
    "(their timers fire by the wall clock while callgrind runs everything about 50 times "
    "slower); its synced revocation feeds are trusted instead, so a request takes the "
    "same code path as in the wrk run, and its session cache keeps entries 60 s (5 s "
    "there). Counts do not depend on what else the machine runs, unlike CPU time here; "
    "but an instruction is not a unit of time (cache misses, allocation), so both tables "
    "are shown and both are targets."
)


@dataclass
class Counts:
    """Instructions per request of each endpoint, and how many requests were counted."""

    per_request: dict[str, float]
    requests: int


def unavailable() -> str | None:
    """Why callgrind cannot be used here, or None."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian package valgrind)"
    return None


def callgrind_totals(text: str) -> int:
    """The instruction total of a callgrind dump file (its ``totals:`` or ``summary:``)."""
    match = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.MULTILINE)
    if match is None:
        raise ValueError("not a callgrind dump: no totals line")
    return int(match.group(1))


class _Counter:
    """Zero and dump the counters of one callgrind process; read the dump it writes."""

    def __init__(self, pid: int, out_dir: Path) -> None:
        self.pid = pid
        self.out_dir = out_dir
        self.dumps = 0

    def _control(self, flag: str) -> None:
        subprocess.run(  # noqa: S603 - a fixed tool and our own child's PID
            ["callgrind_control", flag, str(self.pid)],  # noqa: S607 - found on PATH above
            check=True,
            capture_output=True,
            timeout=120,
        )

    def zero(self) -> None:
        self._control("-z")

    def dump(self) -> int:
        """Dump the counters; the instructions since the last zero."""
        self._control("-d")
        self.dumps += 1
        path = self.out_dir / f"cg.{self.pid}.out.{self.dumps}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists():
                text = path.read_text(errors="replace")
                if re.search(r"^totals:", text, re.MULTILINE):
                    path.unlink()
                    return callgrind_totals(text)
            time.sleep(0.05)
        raise RuntimeError(f"callgrind wrote no dump {path.name}")


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; return its status."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    total = len(head) + 4 + length
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    status = int(head.split(b" ", 2)[1])
    del buffer[:total]
    return status


def _send(port: int, endpoint: Endpoint, count: int) -> float:
    """Send ``count`` requests in sequence on one connection; return the seconds taken."""
    requests = [
        build_request(endpoint.path, h, method=endpoint.method, body=endpoint.body)
        for h in endpoint.headers
    ]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        buffer = bytearray()
        for index in range(count):
            sock.sendall(requests[index % len(requests)])
            status = _read_response(sock, buffer)
            if status >= 300:
                raise RuntimeError(f"{endpoint.name}: HTTP {status} under callgrind")
    return time.monotonic() - started


def count_instructions(
    config: dict[str, Any],
    endpoints: list[Endpoint],
    *,
    requests: int,
    warmup: int,
    progress: Progress | None = None,
) -> Counts:
    """Instructions per request of each endpoint, the server running under callgrind."""
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-callgrind-") as scratch:
        out = Path(scratch)
        wrapper = [
            "valgrind", "--tool=callgrind", "--trace-children=yes",
            f"--callgrind-out-file={out}/cg.%p.out", "--vgdb=yes",
        ]  # fmt: skip
        server = Server(config | {"background": False}, wrapper=wrapper)
        server.start(timeout=900)
        try:
            assert server.process is not None
            counter = _Counter(server.process.pid, out)
            per_request: dict[str, float] = {}
            for endpoint in endpoints:
                _send(server.port, endpoint, warmup)
                counter.zero()
                _send(server.port, endpoint, requests)
                per_request[endpoint.name] = counter.dump() / requests
                if progress is not None:
                    progress.advance(note=endpoint.name)
        finally:
            server.stop()
    return Counts(per_request, requests)


#: The function a process counted by :func:`count_segments` calls between segments.
SEGMENT_MARK = "getppid"


def count_segments(args: list[str], *, timeout: float = 900) -> list[int]:
    """Instructions of each segment of a Python process run under callgrind.

    The process (``python *args``, from the repository root) separates its segments by
    calling ``os.getppid()``: callgrind dumps its counters on each call
    (``--dump-before=getppid``), so the instructions between two calls are one
    segment. Returns the segments between the first mark and the last, in order (before
    the first mark is setup, after the last is teardown).
    """
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-callgrind-") as scratch:
        out = Path(scratch) / "cg.out"
        command = [
            "valgrind", "--tool=callgrind", f"--dump-before={SEGMENT_MARK}",
            f"--callgrind-out-file={out}", sys.executable, *args,
        ]  # fmt: skip
        env = dict(os.environ)
        path = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(path)
        done = subprocess.run(  # noqa: S603 - valgrind and our own interpreter
            command, cwd=REPO_ROOT, env=env, capture_output=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"counted process failed: {done.stderr.decode()[-2000:]}")
        dumps = sorted(
            Path(scratch).glob("cg.out.*"), key=lambda path: int(path.suffix.lstrip("."))
        )
        totals = [callgrind_totals(path.read_text(errors="replace")) for path in dumps]
    return totals[1:]  # dump 1 ends the setup; the final file (cg.out) is the teardown
