"""A bounded closed-loop HTTP/1.1 load generator on asyncio (loopback only).

Used where wrk is not installed, and for the login storm's POST requests. Each
connection sends one request at a time over keep-alive and waits for the whole response
(``Content-Length`` bodies only, which is what the benchmark app sends). It stops at the
deadline or when ``stop`` is set, whichever comes first.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["LoadResult", "build_request", "http_load", "percentile"]


def build_request(
    path: str, headers: dict[str, str] | None = None, *, method: str = "GET", body: bytes = b""
) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request to 127.0.0.1."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of some values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class LoadResult:
    """What a load run saw."""

    requests: int = 0
    non_2xx: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        """Median latency, ms."""
        return statistics.median(self.latencies) * 1e3 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        """99th percentile latency, ms."""
        return percentile(self.latencies, 0.99) * 1e3


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def http_load(
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int,
    duration: float,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Drive ``connections`` closed-loop connections for ``duration`` seconds."""
    result = LoadResult()
    start = time.perf_counter()
    deadline = start + duration

    async def worker(offset: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            result.errors += 1
            return
        index = offset
        try:
            while time.perf_counter() < deadline and not (stop is not None and stop.is_set()):
                sent = time.perf_counter()
                writer.write(requests[index % len(requests)])
                index += 1
                status = await _response(reader)
                result.latencies.append(time.perf_counter() - sent)
                result.requests += 1
                if not 200 <= status < 400:
                    result.non_2xx += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(i * 7919) for i in range(connections)))
    result.seconds = time.perf_counter() - start
    return result
