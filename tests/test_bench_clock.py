"""The interleaved CPU measurement of the HTTP benchmark: the clocked app's attribution,
its arithmetic, and a real interleaved run through uvicorn."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from benchmarks.clock import CLOCK_PATH, ClockedApp, Clocks
from benchmarks.fixtures import make_tokens
from benchmarks.harness import FULL, SMOKE
from benchmarks.http import (
    CACHE_FILL,
    OPEN_TWIN,
    _interleaved_seconds,
    _rounds,
    _section,
    base_config,
    endpoints,
    summarize_interleaved,
)
from benchmarks.server import Endpoint, Run, Server, _sequence, _wrk_script, interleaved_run

from gatepass.server.app import SESSION_CACHE_TTL

OTHER_TASK_LOOPS = 3_000_000  # CPU burned by another task while a request waits
OWN_LOOPS = 3_000  # a thousand times less: the request's own work
FACTS = {"loop": "uvloop", "http": "httptools", "rss": "1 -> 1 MiB"}


def _burn(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i
    return total


async def _drive(app: ClockedApp, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path}, receive, send)
    return sent


def test_a_request_is_charged_its_own_steps_not_what_runs_while_it_waits() -> None:
    """A request that suspends (as on a store read) is charged its own two steps, not the
    CPU another task burns meanwhile (a thousand times its own work); a request that
    never suspends has one step; each path counts its requests."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        _burn(OWN_LOOPS)
        if scope["path"] == "/waits":
            await asyncio.sleep(0.05)
            _burn(OWN_LOOPS)

    async def neighbour() -> None:
        await asyncio.sleep(0.01)
        _burn(OTHER_TASK_LOOPS)

    app = ClockedApp(inner)

    async def main() -> None:
        await asyncio.gather(_drive(app, "/waits"), neighbour())
        await _drive(app, "/once")
        await _drive(app, "/once")

    asyncio.run(main())
    waits_ns, waits_requests, waits_steps = app.totals["/waits"]
    once_ns, once_requests, once_steps = app.totals["/once"]
    assert (1, 2) == (waits_requests, waits_steps)
    assert (2, 2) == (once_requests, once_steps)
    assert 0 < waits_ns
    assert 0 < once_ns
    # The neighbour's burn alone is about 500 times the request's own two burns.
    neighbour_alone = _timed(lambda: _burn(OTHER_TASK_LOOPS))
    assert waits_ns < neighbour_alone / 10


def _timed(work: Any) -> int:
    started = time.thread_time_ns()
    work()
    return time.thread_time_ns() - started


def test_a_failing_request_is_still_counted_and_its_error_passes_through() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("boom")

    app = ClockedApp(inner)
    with pytest.raises(LookupError, match="boom"):
        asyncio.run(_drive(app, "/fails"))
    assert [1, 1] == app.totals["/fails"][1:]


def test_an_exception_thrown_into_a_waiting_request_reaches_its_coroutine() -> None:
    """Cancelling a request while it waits cancels the app's coroutine (its cleanup runs)."""
    cleaned: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(scope["path"])

    app = ClockedApp(inner)

    async def main() -> None:
        task = asyncio.ensure_future(_drive(app, "/slow"))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert ["/slow"] == cleaned
    assert [1, 2] == app.totals["/slow"][1:]  # its first step, and the cancelled one


def test_the_clock_path_answers_the_totals_and_starts_them_again() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        return None

    app = ClockedApp(inner)
    asyncio.run(_drive(app, "/a"))
    [start, body] = asyncio.run(_drive(app, CLOCK_PATH))
    assert 200 == start["status"]
    answer = json.loads(body["body"])
    assert answer["clock_ns"] == app.clock_ns > 0
    assert ["/a"] == list(answer["paths"])
    assert [1, 1] == answer["paths"]["/a"][1:]
    assert {} == app.totals  # started again; the clock's own request is not counted
    [_, again] = asyncio.run(_drive(app, CLOCK_PATH))
    assert {} == json.loads(again["body"])["paths"]


def test_clocks_take_out_the_clock_cost_and_add_the_rest_to_both_sides() -> None:
    """Hand-computed: the clock costs 1 µs a call; each step holds one call, the process
    paid two per step."""
    answer = {
        "clock_ns": 1_000,
        # path: [app ns, requests, steps]
        "paths": {"/open": [110_000, 2, 2], "/me": [134_000, 2, 4]},
    }
    clocks = Clocks.from_answer(answer, process_ns=400_000)
    assert 4 == clocks.requests
    assert 54.0 == clocks.app_us("/open")  # (110,000 - 2 x 1,000) / 2 requests
    assert 65.0 == clocks.app_us("/me")  # (134,000 - 4 x 1,000) / 2
    assert 2.0 == clocks.steps_per_request("/me")
    # The rest: 400,000 - (108,000 + 130,000) - 2 x 1,000 x 6 steps = 150,000 ns / 4
    assert 37.5 == clocks.outside_us
    assert (65.0 + 37.5) / (54.0 + 37.5) == clocks.ratio("/me", "/open")


def test_the_summary_takes_medians_over_rounds_and_the_null_control_uses_the_twin() -> None:
    def run(me_ns: int) -> Clocks:
        paths = {"/open": [100_000, 1, 1], "/mem/me": [me_ns, 1, 1], OPEN_TWIN: [100_000, 1, 1]}
        return Clocks.from_answer({"clock_ns": 0, "paths": paths}, process_ns=350_000 + me_ns)

    endpoints = [
        Endpoint("open (no auth)", "/open", [{}], "baseline"),
        Endpoint("me", "/mem/me", [{}], "gatepass JWT"),
        Endpoint("not run", "/x", [{}], "anchor"),
    ]
    rounds = [run(110_000), run(130_000), run(120_000)]
    summary = summarize_interleaved(endpoints, {"open (no auth)": rounds, "me": rounds})
    assert {"open (no auth)", "me"} == set(summary)
    # rest: 150,000 ns / 3 requests = 50 µs in every round; the median round: app 120 µs
    assert pytest.approx((120 + 50) / (100 + 50)) == summary["me"]["ratio"]
    assert pytest.approx((110 + 50) / (100 + 50)) == summary["me"]["ratio_min"]
    assert 1.0 == summary["open (no auth)"]["ratio"]  # /open against /open/b


def test_each_header_set_goes_to_the_open_path_then_to_the_endpoint() -> None:
    one, two = {"Authorization": "Bearer a"}, {"Authorization": "Bearer b"}
    endpoint = Endpoint("me", "/mem/me", [one, two], "gatepass JWT")
    assert [("/open", one), ("/mem/me", one), ("/open", two), ("/mem/me", two)] == _sequence(
        endpoint, "/open"
    )
    assert [("/mem/me", one), ("/mem/me", two)] == _sequence(endpoint, None)
    script = _wrk_script(endpoint, "/open")
    assert script.index('{"/open", {["Authorization"]="Bearer a"}}') < script.index(
        '{"/mem/me", {["Authorization"]="Bearer a"}}'
    )
    assert "2 * math.random(#reqs / 2)" in script  # a thread starts on an open request


@pytest.mark.timeout(180)
def test_an_interleaved_run_through_uvicorn_serves_both_paths_half_each() -> None:
    """The clocked benchmark app under uvicorn, a JWT endpoint interleaved with the open
    one (wrk, or the Python load generator where wrk is missing): every request answered,
    both paths counted about equally, the app's time and the rest both positive."""
    fx = make_tokens()
    bearer = {"Authorization": f"Bearer {fx.tokens['EdDSA']}"}
    endpoint = Endpoint("gatepass JWT EdDSA (cache hit)", "/mem/me", [bearer], "gatepass JWT")
    with Server(base_config(fx) | {"clock": True}) as server, tempfile.TemporaryDirectory() as d:
        run, clocks = asyncio.run(
            interleaved_run(
                server, endpoint, "/open", 1.0, threads=2, connections=4, script_dir=Path(d)
            )
        )
    assert 0 == run.non_2xx + run.errors
    assert {"/open", "/mem/me"} == set(clocks.steps)
    opened, protected = clocks.steps["/open"][1], clocks.steps["/mem/me"][1]
    assert opened + protected >= 100
    assert abs(opened - protected) <= 0.1 * (opened + protected)
    assert clocks.app_us("/open") > 0
    assert clocks.app_us("/mem/me") > 0
    assert clocks.outside_us > 0


def test_a_run_through_a_session_cache_lasts_whole_ttls_after_filling_it() -> None:
    """So that each cached entry's read from the store is made again in the measured run
    as often as steady traffic pays it (a 2 s run right after filling a 60 s cache pays
    none), in fewer rounds; the full run measures the auth server's own TTL."""
    budget = FULL.scaled(http_warmup=0.5, http_seconds=2.0, http_rounds=5, http_ttl_rounds=3)
    jwt = Endpoint("jwt", "/mem/me", [{}], "gatepass JWT")
    cached = Endpoint("session", "/redis/me", [{}], "session", cache_ttl=5.0)
    assert (0.5, 2.0) == _interleaved_seconds(jwt, budget)
    assert (0.5 + CACHE_FILL, 5) == _interleaved_seconds(cached, budget)
    assert (0.5 + CACHE_FILL, 10) == _interleaved_seconds(cached, budget.scaled(http_seconds=6.0))
    assert (5, 3) == (_rounds(jwt, budget), _rounds(cached, budget))
    assert 2 == _rounds(cached, budget.scaled(http_rounds=2))
    assert SESSION_CACHE_TTL == FULL.http_cache_ttl
    config = base_config(make_tokens()) | {"memory_sessions": 10, "sqlite_sessions": 10}
    ttls = {ep.name: ep.cache_ttl for ep in endpoints(make_tokens(), config, budget)}
    assert (
        config["cache_ttl"] == ttls["gatepass session, memory"] == ttls["gatepass session, SQLite"]
    )
    assert 0 == ttls["gatepass session, SQLite, no cache"] == ttls["gatepass JWT EdDSA (cache hit)"]
    assert 0 == ttls["gatepass session, memory, one client"]  # one id: read once in a TTL


def test_the_cpu_targets_take_the_interleaved_ratio_and_failures_are_shown() -> None:
    """The separate runs say 1.50x, the interleaved run 1.10x: the target reads the
    interleaved one; its table shows the run's non-2xx answers and the notes say so."""
    jwt = "gatepass JWT EdDSA (cache hit)"
    eps = [
        Endpoint("open (no auth)", "/open", [{}], "baseline"),
        Endpoint(jwt, "/mem/me", [{}], "gatepass JWT"),
    ]
    base, slow = Run(100, 50.0, 1.0, 2.0, 100.0, 0, 0), Run(100, 40.0, 1.0, 2.0, 150.0, 0, 0)
    paths = {"/open": [100_000, 1, 1], "/mem/me": [110_000, 1, 1], OPEN_TWIN: [100_000, 1, 1]}
    clocks = Clocks.from_answer({"clock_ns": 0, "paths": paths}, process_ns=310_000)
    section = _section(
        SMOKE, eps, {eps[0].name: [base, base], jwt: [slow]}, {jwt: [(base, base)]}, {}, FACTS,
        "callgrind not found", {eps[0].name: [clocks], jwt: [clocks]}, {eps[0].name: 0, jwt: 3},
    )  # fmt: skip
    by_name = {t.name: t for t in section.targets}
    assert 1.5 == section.data["summary"][jwt]["cpu_ratio"]
    assert 1.1 == by_name["HTTP server CPU per request: JWT EdDSA (cache hit) vs open"].measured
    assert by_name["HTTP server CPU per request: session, memory vs open"].measured is None
    interleaved = section.tables[1]
    assert "non-2xx + errors" == interleaved.headers[-1]
    assert ["0", "3"] == [row[-1] for row in interleaved.rows]
    assert any("non-2xx" in note for note in section.notes)
