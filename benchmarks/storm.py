"""Section 4: a login storm (argon2id in worker threads) while protected requests go on.

The server is :mod:`benchmarks.apps` with the in-memory store. Protected requests are
``GET /mem/me`` with an EdDSA Bearer token (a verified-token cache hit), driven by wrk.
A storm is N concurrent clients sending ``POST /login`` (argon2id verify with the OWASP
parameters, then a session login) back to back for the whole measurement. Conditions,
interleaved in each round: idle (no logins); storm with the default hasher (at most
cores - 1 hashes at once, so that a core is left to the event loop, in threads of the
lowest CPU priority, Linux ``SCHED_IDLE``, so that hashing takes only the CPU time that
requests leave over); and, to show what each default buys, storm with a hasher allowed
every core (``PasswordSettings(max_concurrency=cores)``, ``POST /login-all-cores``) and
storm with a hasher at normal priority in anyio's worker threads
(``PasswordSettings(background_priority=False)``, ``POST /login-normal-priority``).
A control condition has no logins but another process spinning on one core, at normal
priority, for the whole measurement: what any CPU-bound neighbour does to the protected
requests, with gatepass out of the picture. Each condition runs under the HTTP
section's load (wrk -t2 -c32, latency mostly queueing) and under a light load
(wrk -t1 -c4, latency mostly service time).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from benchmarks.fixtures import make_tokens
from benchmarks.harness import Budget, Progress, fmt_ratio, median
from benchmarks.http import STORM_USER, base_config
from benchmarks.load import LoadResult, build_request, http_load
from benchmarks.report import Section, Table, Target
from benchmarks.server import Endpoint, Run, Server, load_run

__all__ = ["CONDITIONS", "LOADS", "run"]

CONTROL = "control: one core busy (a spinning process, no logins)"
NORMAL = "storm, hasher at normal priority"
CONDITIONS = ("idle", "storm", "storm, hasher on every core", NORMAL, CONTROL)
#: (label, wrk threads, connections)
LOADS = (("c32", 2, 32), ("c4", 1, 4))
_PATHS = {
    "storm": "/login",
    "storm, hasher on every core": "/login-all-cores",
    NORMAL: "/login-normal-priority",
}
#: The control's neighbour: one core busy until killed (or argv[1] seconds at most).
_SPIN = (
    "import sys, time\nend = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end: pass"
)


@dataclass
class Measurement:
    """One protected-request run, and the logins that ran during it."""

    run: Run
    logins: LoadResult | None


async def _measure(
    server: Server,
    endpoint: Endpoint,
    condition: str,
    load: tuple[str, int, int],
    budget: Budget,
    script_dir: Path,
) -> Measurement:
    stop = asyncio.Event()
    storm: asyncio.Task[LoadResult] | None = None
    spinner: asyncio.subprocess.Process | None = None
    if condition == CONTROL:
        seconds = budget.storm_seconds + 30  # outlives the run; stopped right after it
        spinner = await asyncio.create_subprocess_exec(sys.executable, "-c", _SPIN, str(seconds))
        await asyncio.sleep(0.5)  # the same settling time as a storm gets
    if condition in _PATHS:
        body = urllib.parse.urlencode(STORM_USER).encode()
        request = build_request(
            _PATHS[condition],
            {"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
            body=body,
        )
        storm = asyncio.create_task(
            http_load(
                server.port,
                [request],
                connections=budget.storm_logins,
                duration=budget.storm_seconds + 60,
                stop=stop,
            )
        )
        await asyncio.sleep(0.5)  # the storm reaches steady state before measuring
    _, threads, connections = load
    try:
        run = await load_run(
            server,
            endpoint,
            budget.storm_seconds,
            threads=threads,
            connections=connections,
            script_dir=script_dir,
        )
    finally:
        stop.set()
        if spinner is not None:
            spinner.kill()
            await spinner.wait()
    logins = await storm if storm is not None else None
    return Measurement(run, logins)


def run(budget: Budget) -> Section:
    """Start the server and measure each condition under each load, interleaved."""
    fx = make_tokens()
    config = base_config(fx) | {"storm_user": STORM_USER}
    endpoint = Endpoint(
        "gatepass JWT EdDSA (cache hit)",
        "/mem/me",
        [{"Authorization": f"Bearer {fx.tokens['EdDSA']}"}],
        "gatepass JWT",
    )
    plan = [(c, load) for c in CONDITIONS for load in LOADS]
    results: dict[tuple[str, str], list[Measurement]] = {(c, ld[0]): [] for c, ld in plan}
    progress = Progress("storm", budget.storm_rounds * len(plan))
    rng = random.Random(5)  # noqa: S311 - shuffling, not secrets
    with Server(config) as server, tempfile.TemporaryDirectory() as scripts:
        for load in LOADS:  # warm up the protected path under each load
            asyncio.run(
                load_run(server, endpoint, budget.http_warmup, threads=load[1],
                         connections=load[2], script_dir=Path(scripts))
            )  # fmt: skip
        for _ in range(budget.storm_rounds):
            rng.shuffle(plan)
            for condition, load in plan:
                measured = asyncio.run(
                    _measure(server, endpoint, condition, load, budget, Path(scripts))
                )
                results[(condition, load[0])].append(measured)
                progress.advance(note=f"{condition} {load[0]}")
    progress.close()
    return _section(budget, results)


def _section(budget: Budget, results: dict[tuple[str, str], list[Measurement]]) -> Section:
    rows = []
    summary: dict[str, dict[str, float]] = {}
    for (condition, load), ms in results.items():
        idle = results[("idle", load)]
        p99 = median(m.run.p99_ms for m in ms)
        ratio = median(
            m.run.p99_ms / i.run.p99_ms for m, i in zip(ms, idle, strict=False) if i.run.p99_ms
        )
        logins = [m.logins for m in ms if m.logins is not None]
        login_rate = median(lr.rps for lr in logins) if logins else float("nan")
        login_p50 = median(lr.p50_ms for lr in logins) if logins else float("nan")
        login_p99 = median(lr.p99_ms for lr in logins) if logins else float("nan")
        failed = sum(lr.non_2xx + lr.errors for lr in logins)
        key = f"{condition}|{load}"
        summary[key] = {
            "p50_ms": median(m.run.p50_ms for m in ms),
            "p99_ms": p99,
            "p99_ratio": ratio,
            "rps": median(m.run.rps for m in ms),
            "cpu_us": median(m.run.cpu_us for m in ms),
            "logins_per_s": login_rate,
            "login_p50_ms": login_p50,
            "login_p99_ms": login_p99,
        }
        rows.append([
            condition, load, f"{summary[key]['rps']:,.0f}", f"{summary[key]['p50_ms']:.2f}",
            f"{p99:.2f}", fmt_ratio(ratio), f"{summary[key]['cpu_us']:.1f}",
            "—" if not logins else f"{login_rate:.0f}",
            "—" if not logins else f"{login_p50:.0f} / {login_p99:.0f}",
            str(failed + sum(m.run.non_2xx + m.run.errors for m in ms)),
        ])  # fmt: skip
    cores = os.cpu_count() or 2
    table = Table(
        f"Protected requests (JWT EdDSA, cache hit) idle vs during a storm of "
        f"{budget.storm_logins} concurrent logins; median of {budget.storm_rounds} rounds, "
        f"{budget.storm_seconds:g} s each",
        ["condition", "load", "req/s", "p50 ms", "p99 ms", "p99 x idle", "server CPU µs/req",
         "logins/s", "login p50 / p99 ms", "non-2xx + errors"],
        rows,
    )  # fmt: skip
    main = summary.get("storm|c32", {}).get("p99_ratio")
    light = summary.get("storm|c4", {}).get("p99_ratio")
    targets = [
        Target(
            "protected-request p99 during a login storm vs idle (wrk -c32)",
            2.0,
            main,
            f"{summary['storm|c32']['p99_ms']:.2f} ms vs {summary['idle|c32']['p99_ms']:.2f} ms",
        ),
        Target(
            "protected-request p99 during a login storm vs idle (light load, wrk -c4)",
            2.0,
            light,
            f"{summary['storm|c4']['p99_ms']:.2f} ms vs {summary['idle|c4']['p99_ms']:.2f} ms",
        ),
    ]
    notes = [
        f"The default hasher runs at most {max(1, cores - 1)} hashes at once (cores - 1); "
        f"the one on every core {cores}. With {cores} cores, the argon2 threads, the event "
        "loop, wrk and the storm clients all compete for the same cores; at the lowest "
        "priority the hashing gets what the others leave, so logins/s shows what the "
        "protected requests' p99 costs the logins.",
        "p99 x idle is the median over rounds of (p99 during the storm / idle p99 in the "
        "same round).",
        "Server CPU µs/req during a storm includes the argon2 hashing of the logins (the "
        "process's CPU is divided by the protected requests only).",
    ]
    for load, _, _ in LOADS:
        storm_p99 = summary[f"storm|{load}"]["p99_ms"]
        control_p99 = summary[f"{CONTROL}|{load}"]["p99_ms"]
        notes.append(
            f"wrk -{load}: storm p99 {storm_p99:.2f} ms vs the control's {control_p99:.2f} ms "
            f"(one core spinning, no logins): {fmt_ratio(storm_p99 / control_p99)}. The "
            "control shows what a busy core alone does to the protected requests on this "
            "machine; the ratio is what the storm adds beyond that."
        )
    return Section(
        key="storm",
        title="4. Login storm",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=[table],
        targets=targets,
        notes=notes,
        data={"summary": summary, "conditions": list(CONDITIONS)},
    )
