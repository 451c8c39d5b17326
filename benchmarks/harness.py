"""The timing harness: calibrated loops, interleaved repeats, medians, budgets, progress.

Method (as in PERF.md): every case is a loop of ``n`` operations, with ``n`` calibrated so
that one repeat takes about ``budget.target`` seconds. Every round runs every case once,
in a shuffled order, so that slow phases of a noisy machine hit all cases alike; a
``gc.collect()`` precedes each repeat and GC stays enabled. Results are the median
per-operation time, with min and max across repeats.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TextIO, TypeVar

from gatepass.server.app import SESSION_CACHE_TTL

__all__ = [
    "FULL",
    "QUICK",
    "SMOKE",
    "AsyncRunner",
    "Budget",
    "Case",
    "Progress",
    "Timing",
    "calibrate",
    "cycle_case",
    "fmt_ratio",
    "fmt_us",
    "measure",
    "median",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    """How much work each section does; bounds the run time of the whole suite."""

    name: str
    #: Interleaved repeats of every micro-benchmark case.
    repeats: int
    #: Seconds one repeat of one case should take (calibrated).
    target: float
    #: HTTP: measured seconds per endpoint per round, warm-up seconds, rounds.
    http_seconds: float
    http_warmup: float
    http_rounds: int
    #: The session cache TTL of the HTTP server (the auth server's own in the full run),
    #: and the rounds of the interleaved session rows through it, each a whole TTL long.
    http_cache_ttl: float
    http_ttl_rounds: int
    #: wrk threads and connections (PERF.md: -t2 -c32).
    http_threads: int
    http_connections: int
    #: Sessions held by the in-memory store of the HTTP server; ids rotated per endpoint.
    http_memory_sessions: int
    http_rotate: int
    #: SQLite table sizes for session lookups, and how many ids a lookup loop cycles over.
    session_sizes: tuple[int, ...]
    lookup_ids: int
    #: Rows in the PostgreSQL and Redis session stores.
    networked_sessions: int
    #: Growth: in-memory store sizes, revoked-jti counts, session-cache entries, Redis records.
    growth_session_sizes: tuple[int, ...]
    growth_revocation_sizes: tuple[int, ...]
    cache_entries: int
    redis_records: int
    #: Login storm: seconds per measurement, rounds, concurrent login requests.
    storm_seconds: float
    storm_rounds: int
    storm_logins: int
    #: ``gc.collect()`` before every repeat (off only for the smoke test: it costs wall time).
    collect: bool = True
    #: HTTP under callgrind: requests counted per endpoint, session ids they rotate over.
    instr_requests: int = 200
    instr_rotate: int = 100

    def scaled(self, **changes: object) -> Budget:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


FULL = Budget(
    name="full",
    repeats=7,
    target=0.1,
    http_seconds=2.0,
    http_warmup=0.5,
    http_rounds=5,
    http_cache_ttl=SESSION_CACHE_TTL,
    http_ttl_rounds=3,
    http_threads=2,
    http_connections=32,
    http_memory_sessions=100_000,
    http_rotate=1000,
    session_sizes=(1_000, 100_000, 1_000_000),
    lookup_ids=10_000,
    networked_sessions=100_000,
    growth_session_sizes=(1_000, 10_000, 100_000, 1_000_000),
    growth_revocation_sizes=(100, 1_000, 10_000, 100_000),
    cache_entries=10_000,
    redis_records=20_000,
    storm_seconds=4.0,
    storm_rounds=3,
    storm_logins=16,
)

QUICK = FULL.scaled(
    name="quick",
    repeats=3,
    target=0.02,
    http_seconds=1.0,
    http_warmup=0.3,
    http_rounds=1,
    http_cache_ttl=10.0,
    http_ttl_rounds=1,
    http_memory_sessions=10_000,
    instr_requests=50,
    instr_rotate=20,
    session_sizes=(1_000, 10_000, 100_000),
    lookup_ids=1_000,
    networked_sessions=5_000,
    growth_session_sizes=(1_000, 10_000, 100_000),
    growth_revocation_sizes=(100, 1_000, 10_000),
    cache_entries=2_000,
    redis_records=2_000,
    storm_seconds=1.5,
    storm_rounds=1,
    storm_logins=8,
)

#: For the smoke test: every code path, almost no time.
SMOKE = QUICK.scaled(
    name="smoke",
    repeats=2,
    target=0.002,
    http_seconds=0.5,
    http_warmup=0.1,
    http_cache_ttl=1.0,
    http_memory_sessions=200,
    http_rotate=50,
    instr_requests=10,
    instr_rotate=5,
    session_sizes=(100, 1_000),
    lookup_ids=100,
    networked_sessions=200,
    growth_session_sizes=(100, 1_000),
    growth_revocation_sizes=(100, 1_000),
    cache_entries=100,
    redis_records=200,
    storm_seconds=0.5,
    storm_logins=2,
    collect=False,
)


@dataclass
class Case:
    """One micro-benchmark: ``run(n)`` performs the operation ``n`` times."""

    name: str
    run: Callable[[int], object]
    #: Operations per repeat at least (e.g. a cache case must cycle its whole hot set).
    min_n: int = 1


@dataclass
class Timing:
    """The per-operation times of one case, one sample per repeat (seconds)."""

    name: str
    n: int
    samples: list[float]

    @property
    def median_us(self) -> float:
        """Median time per operation, µs."""
        return statistics.median(self.samples) * 1e6

    @property
    def min_us(self) -> float:
        """Fastest repeat, µs per operation."""
        return min(self.samples) * 1e6

    @property
    def max_us(self) -> float:
        """Slowest repeat, µs per operation."""
        return max(self.samples) * 1e6

    @property
    def spread(self) -> float:
        """(max - min) / median across repeats."""
        med = statistics.median(self.samples)
        return (max(self.samples) - min(self.samples)) / med if med else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "n": self.n,
            "median_us": self.median_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "samples_us": [s * 1e6 for s in self.samples],
        }


def median(values: Iterable[float]) -> float:
    """The median of some numbers (NaN for none)."""
    items = list(values)
    return statistics.median(items) if items else float("nan")


def _timed(run: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    run(n)
    return time.perf_counter() - start


def calibrate(run: Callable[[int], object], target: float, *, max_n: int = 10_000_000) -> int:
    """The ``n`` for which ``run(n)`` takes about ``target`` seconds (at least 1).

    Grows ``n`` geometrically until a loop takes a fifth of the target, so calibration
    itself costs about one target; a single slow operation gives ``n = 1``.
    """
    n = 1
    elapsed = _timed(run, n)  # also the warm-up call
    while elapsed < target / 5 and n < max_n:
        grow = 10 if elapsed < target / 100 else 2
        n = min(max_n, n * grow)
        elapsed = _timed(run, n)
    return max(1, min(max_n, round(n * target / max(elapsed, 1e-9))))


def measure(
    cases: Sequence[Case],
    budget: Budget,
    progress: Progress | None = None,
    *,
    seed: int = 0,
) -> dict[str, Timing]:
    """Calibrate every case, then run ``budget.repeats`` interleaved, shuffled rounds."""
    rng = random.Random(seed)  # noqa: S311 - shuffling, not secrets
    sizes: dict[str, int] = {}
    for case in cases:
        sizes[case.name] = max(case.min_n, calibrate(case.run, budget.target))
        if progress is not None:
            progress.advance(note=f"calibrated {case.name}")
    timings = {case.name: Timing(case.name, sizes[case.name], []) for case in cases}
    order = list(cases)
    for _ in range(budget.repeats):
        rng.shuffle(order)
        for case in order:
            n = sizes[case.name]
            if budget.collect:
                gc.collect()
            timings[case.name].samples.append(_timed(case.run, n) / n)
            if progress is not None:
                progress.advance(note=case.name)
    return timings


def measure_steps(cases: Sequence[Case], budget: Budget) -> int:
    """How many progress steps :func:`measure` reports for these cases."""
    return len(cases) * (budget.repeats + 1)


class AsyncRunner:
    """One event loop (uvloop when installed, as in the server) for async cases.

    Stores hold connections bound to the loop that opened them, so a section opens its
    stores and runs all its async cases through the same runner.
    """

    def __init__(self) -> None:
        factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
            factory = None
        self.loop_name = "uvloop" if factory is not None else "asyncio"
        self._runner = asyncio.Runner(loop_factory=factory)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run a coroutine to completion on the runner's loop."""

        async def wrap() -> T:
            return await awaitable

        return self._runner.run(wrap())

    def case(self, name: str, op: Callable[[], Awaitable[object]]) -> Case:
        """A case that awaits ``op()`` n times inside one coroutine."""

        async def many(n: int) -> None:
            for _ in range(n):
                await op()

        return Case(name, lambda n: self._runner.run(many(n)))

    def close(self) -> None:
        """Close the loop."""
        self._runner.close()


def cycle_case(name: str, op: Callable[[T], object], items: Sequence[T]) -> Case:
    """A sync case calling ``op(item)`` over ``items`` in a cycle."""
    it = itertools.cycle(items)

    def run(n: int) -> None:
        for _ in range(n):
            op(next(it))

    return Case(name, run)


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a line per 10 % otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(1, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self._tty = self.stream.isatty()
        self._last_decile = -1
        self._start = time.monotonic()

    def advance(self, steps: int = 1, note: str = "") -> None:
        """Count ``steps`` more units of work."""
        self.done = min(self.total, self.done + steps)
        fraction = self.done / self.total
        elapsed = time.monotonic() - self._start
        if self._tty:
            width = 30
            filled = int(width * fraction)
            bar = "#" * filled + "." * (width - filled)
            text = f"\r{self.label:<9} [{bar}] {fraction:4.0%} {elapsed:5.0f}s {note[:40]:<40}"
            self.stream.write(text)
            self.stream.flush()
        else:
            decile = int(fraction * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(f"{self.label}: {fraction:4.0%} ({elapsed:.0f}s) {note}\n")
                self.stream.flush()

    def close(self, note: str = "done") -> None:
        """Finish the bar."""
        self.done = self.total - 1
        self.advance(note=note)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def fmt_us(value: float | None) -> str:
    """A time in µs with 3 significant digits ('n/a' for None/NaN)."""
    if value is None or value != value:
        return "n/a"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_ratio(value: float | None) -> str:
    """A ratio as ``1.23x`` ('n/a' for None/NaN)."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.2f}x"
