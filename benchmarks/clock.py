"""The app's own CPU time per request, by path: the interleaved view of section 3.

A run of one endpoint and a run of the open endpoint a few seconds later meet different
neighbours on a shared machine, which moves server CPU per request by tens of percent.
Here both kinds of request are sent in the same run, one after the other from each
load thread (the same header bytes, only the path differs), so both meet the same
machine at the same moments. :class:`ClockedApp` wraps the benchmark app and adds the
calling thread's CPU time (``CLOCK_THREAD_CPUTIME_ID``) of each step of a request's
coroutine to that request's path; a request that suspends (a store read on a cache
miss) is not charged for what the event loop runs meanwhile. ``GET /_clock`` answers
the totals as JSON and starts them again.

What the app's steps do not include (uvicorn's parsing and writing, the kernel, the
event loop, background jobs) is the same for both kinds of request, and is what the
process spent beyond the app's steps: the whole process's CPU time over the run, minus
the steps' sum, per request. :meth:`Clocks.ratio` adds it to both sides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CLOCK_PATH", "ClockedApp", "Clocks", "clock_cost_ns"]

CLOCK_PATH = "/_clock"
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def clock_cost_ns(calls: int = 2000, batches: int = 5) -> float:
    """What one ``time.thread_time_ns()`` call costs here, ns (the median of some batches).

    A system call on Linux (the thread CPU clock has no vDSO path), about 1 µs in a VM:
    part of every clocked step, so it is taken out again (see :class:`Clocks`).
    """
    clock, costs = time.thread_time_ns, []
    for _ in range(batches):
        started = clock()
        for _ in range(calls):
            clock()
        costs.append((clock() - started) / (calls + 1))
    return sorted(costs)[len(costs) // 2]


class _Steps:
    """Await a coroutine; add the thread CPU time of its steps to ``slot[0]`` (ns), and
    their number to ``slot[1]``."""

    __slots__ = ("coro", "slot")

    def __init__(self, coro: Any, slot: list[int]) -> None:
        self.coro = coro
        self.slot = slot

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, slot, clock = self.coro, self.slot, time.thread_time_ns
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            slot[1] += 1
            started = clock()
            try:
                yielded = coro.send(sent) if thrown is None else coro.throw(thrown)
            except StopIteration as stop:
                slot[0] += clock() - started
                return stop.value
            except BaseException:
                slot[0] += clock() - started
                raise
            slot[0] += clock() - started
            try:
                sent, thrown = (yield yielded), None
            except BaseException as exc:  # thrown into the coroutine at its next step
                sent, thrown = None, exc


class ClockedApp:
    """ASGI wrapper: per path, the requests served and the CPU time of their steps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.totals: dict[str, list[int]] = {}  # path -> [nanoseconds, requests, steps]
        self.clock_ns = clock_cost_ns()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == CLOCK_PATH:
            await self._answer(send)
            return
        slot = [0, 0]
        try:
            await _Steps(self.app(scope, receive, send), slot)
        finally:
            total = self.totals.setdefault(path, [0, 0, 0])
            total[0] += slot[0]
            total[1] += 1
            total[2] += slot[1]

    async def _answer(self, send: Any) -> None:
        body = json.dumps({"clock_ns": self.clock_ns, "paths": self.totals}).encode()
        self.totals = {}
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Clocks:
    """One interleaved run: the app's own CPU time per path, and what the process spent
    beyond it.

    The clock's own cost is taken out: each clocked step holds about one
    ``thread_time_ns()`` call (the end of the first, the start of the second), and the
    process paid for two.
    """

    steps: dict[str, tuple[float, int, int]]  # path -> (app CPU ns, requests, steps)
    outside_ns: float  # the process's CPU time beyond the app's steps and the clock calls

    @classmethod
    def from_answer(cls, answer: dict[str, Any], process_ns: int) -> Clocks:
        """From ``GET /_clock``'s answer and the process's CPU time over the same run."""
        cost = float(answer["clock_ns"])
        steps = {
            path: (ns - count * cost, requests, count)
            for path, (ns, requests, count) in answer["paths"].items()
        }
        inside = sum(ns for ns, _, _ in steps.values())
        clock_calls = 2 * cost * sum(count for _, _, count in steps.values())
        return cls(steps, process_ns - inside - clock_calls)

    @property
    def requests(self) -> int:
        """Requests served over the run, every path."""
        return sum(requests for _, requests, _ in self.steps.values())

    def app_us(self, path: str) -> float:
        """The app's own CPU time per request of ``path``, µs."""
        ns, requests, _ = self.steps[path]
        return ns / requests / 1e3

    def steps_per_request(self, path: str) -> float:
        """Coroutine steps per request of ``path`` (1 when it never suspends)."""
        _, requests, count = self.steps[path]
        return count / requests

    @property
    def outside_us(self) -> float:
        """CPU time per request outside the app's steps (uvicorn, kernel, loop, jobs), µs."""
        return self.outside_ns / max(1, self.requests) / 1e3

    def ratio(self, path: str, open_path: str) -> float:
        """Server CPU per request of ``path`` over ``open_path``'s (both from this run)."""
        outside = self.outside_us
        return (self.app_us(path) + outside) / (self.app_us(open_path) + outside)
