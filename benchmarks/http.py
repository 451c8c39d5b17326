"""Section 3: requests through uvicorn (1 worker), open vs protected endpoints and anchors.

The app is :mod:`benchmarks.apps`; uvicorn runs it with uvloop and httptools when they
are installed. Load is ``wrk --latency`` (a Python load generator when wrk is missing),
``-t2 -c32`` by default as in PERF.md, after a warm-up per run; endpoints run in a
shuffled order in each of several interleaved rounds, each between two runs of the open
endpoint, and the tables show the median round. Server CPU per request comes from
``/proc/<pid>/stat`` (utime + stime) read just before and after each measured run; it
is the portable number, since wrk and the server share the machine's cores (req/s
measures how much server CPU a request costs).
Session requests rotate over a set of existing session ids, and JWT requests over as
many tokens (each of another user and login), so that both columns serve many clients;
after the warm-up every JWT request is a verified-token cache hit. Two control rows send
one client's credential on every request (JWT EdDSA, session on memory): the difference
from their rotating rows is what reading another client's cached state costs in CPU
time, where the instruction counts barely differ.

Runs seconds apart meet a different machine (on a shared host, server CPU per request
drifts by tens of percent from one run to the next), so the CPU targets are measured a
second way: each endpoint interleaved with the open endpoint in the same run, on a server
whose app clocks its own CPU time per path (:mod:`benchmarks.clock`), with a null control
(the open endpoint against itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import backends, instructions
from benchmarks.apps import COOKIES
from benchmarks.clock import Clocks
from benchmarks.fixtures import (
    ALGS,
    AUDIENCE,
    ISSUER,
    SQLITE_SALT,
    NotAvailable,
    Tokens,
    lookup_ids,
    make_tokens,
    postgres_url,
    redis_url,
    rotating_tokens,
    session_id,
    sqlite_sessions,
)
from benchmarks.harness import AsyncRunner, Budget, Progress, fmt_ratio, median
from benchmarks.instructions import Counts
from benchmarks.report import Section, Table, Target
from benchmarks.server import Endpoint, Run, Server, importable, interleaved_run, load_run
from gatepass.keys.algorithms import RSA_GENERATED_BITS
from gatepass.server.app import SESSION_CACHE_TTL

__all__ = [
    "STORM_USER",
    "base_config",
    "endpoints",
    "run",
    "server_config",
    "summarize",
    "summarize_interleaved",
]

STAR_PREFIX = "gpbench:star:"
REDIS_PREFIX = "gpbench:http:"
#: Seconds of the same traffic before an interleaved run through a session cache: every
#: id the endpoint rotates over is requested (so read into the cache) in it.
CACHE_FILL = 2.0
STORM_USER = {"email": "storm@bench.example", "password": "correct horse battery staple 42"}


# -- setup ------------------------------------------------------------------------------


def base_config(fx: Tokens) -> dict[str, Any]:
    """The app configuration every server needs: keys, issuer, audience; no stores."""
    return {
        "keys": {alg: key.private_jwk() for alg, key in fx.keys.items()},
        "pyjwt_keys": {
            alg: fx.keys[alg].private_jwk() if alg == "HS256" else fx.keys[alg].public_jwk()
            for alg in ALGS
        },
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "memory_sessions": 0,
        "memory_salt": "none",
        "cache_ttl": SESSION_CACHE_TTL,  # the auth server's, unless a budget sets another
    }


def server_config(
    fx: Tokens, budget: Budget, runner: AsyncRunner
) -> tuple[dict[str, Any], dict[str, str]]:
    """The app configuration, and the stores that are not available (name -> reason)."""
    missing: dict[str, str] = {}
    config = base_config(fx)
    config |= {
        "memory_sessions": budget.http_memory_sessions,
        "memory_salt": "http-memory",
        "sqlite_path": str(sqlite_sessions(budget.http_memory_sessions, runner.run)[0]),
        "sqlite_sessions": budget.http_memory_sessions,
        "redis_url": redis_url(),
        "storm_user": STORM_USER,
        "cache_ttl": budget.http_cache_ttl,
    }
    try:
        store = runner.run(backends.open_redis(REDIS_PREFIX))
        runner.run(backends.populate(store, budget.http_rotate, "http-redis"))
        runner.run(store.aclose())
        config["redis_prefix"] = REDIS_PREFIX
    except NotAvailable as exc:
        missing["Redis"] = str(exc)
    try:
        store = runner.run(backends.open_postgres(budget.networked_sessions))
        runner.run(store.aclose())
        config["postgres_url"] = postgres_url()
        config["postgres_schema"] = backends.PG_SCHEMA
        config["postgres_sessions"] = budget.networked_sessions
    except NotAvailable as exc:
        missing["PostgreSQL"] = str(exc)
    try:
        runner.run(_star_sessions(budget.http_rotate))
        config["starsessions_prefix"] = STAR_PREFIX
    except NotAvailable as exc:
        missing["starsessions"] = str(exc)
    return config, missing


async def _star_sessions(count: int) -> None:
    try:
        import redis.asyncio as aioredis
        import starsessions  # noqa: F401
    except ImportError as exc:
        raise NotAvailable(f"starsessions or redis not installed ({exc})") from exc
    await backends.delete_redis_prefix(STAR_PREFIX)
    client = aioredis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)
    now = time.time()
    try:
        async with client.pipeline(transaction=False) as pipe:
            for index in range(count):
                data = {
                    "user": f"user-{index:07d}",
                    "__metadata__": {"lifetime": 3600, "created": now, "last_access": now},
                }
                pipe.set(f"{STAR_PREFIX}{session_id(index, 'star')}", json.dumps(data), ex=86400)
            await pipe.execute()
    except (OSError, ConnectionError) as exc:
        raise NotAvailable(f"Redis not reachable ({type(exc).__name__})") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("redis"):
            raise NotAvailable(f"Redis not reachable ({type(exc).__name__})") from exc
        raise
    finally:
        await client.aclose()


#: The open endpoint sent the (longer) RS256 Bearer header: what receiving it costs.
RS256_CONTROL = "open, RS256 Bearer header sent (ignored)"
#: The locality controls: one client's credential on every request instead of rotating.
ONE_CLIENT = {
    "gatepass JWT EdDSA (cache hit)": "gatepass JWT EdDSA (cache hit), one client",
    "gatepass session, memory": "gatepass session, memory, one client",
}


def endpoints(fx: Tokens, config: dict[str, Any], budget: Budget) -> list[Endpoint]:
    """Every endpoint the configuration supports."""
    rotate = budget.http_rotate
    # JWT requests rotate over as many clients' tokens as session requests over ids.
    bearers = {
        alg: [{"Authorization": f"Bearer {t}"} for t in rotating_tokens(fx, alg, rotate)]
        for alg in ALGS
    }
    bearer = {alg: headers[0] for alg, headers in bearers.items()}
    cookie = COOKIES.full_name(COOKIES.session_name)

    def cookies(ids: list[str], name: str = cookie) -> list[dict[str, str]]:
        return [{"Cookie": f"{name}={i}"} for i in ids]

    found = [
        Endpoint("open (no auth)", "/open", [bearer["EdDSA"]], "baseline"),
        Endpoint(RS256_CONTROL, "/open", [bearer["RS256"]], "baseline"),
        Endpoint("gatepass middleware, open route", "/mw/open", [bearer["EdDSA"]], "gatepass"),
    ]
    found += [
        Endpoint(f"gatepass JWT {alg} (cache hit)", "/mem/me", bearers[alg], "gatepass JWT")
        for alg in ALGS
    ]
    memory_ids = lookup_ids(config["memory_sessions"], rotate, config["memory_salt"])
    ttl = config["cache_ttl"]
    found.append(
        Endpoint(
            "gatepass session, memory", "/mem/me", cookies(memory_ids), "session", cache_ttl=ttl
        )
    )
    found += [
        Endpoint(ONE_CLIENT["gatepass JWT EdDSA (cache hit)"], "/mem/me", [bearer["EdDSA"]],
                 "gatepass JWT"),
        # One id: read again once per TTL among tens of thousands of requests, so it is
        # measured in short runs, as the JWT rows are.
        Endpoint(ONE_CLIENT["gatepass session, memory"], "/mem/me", cookies(memory_ids[:1]),
                 "session"),
    ]  # fmt: skip
    sqlite_ids = lookup_ids(config["sqlite_sessions"], rotate, SQLITE_SALT)
    found += [
        Endpoint(
            "gatepass session, SQLite", "/sqlite/me", cookies(sqlite_ids), "session", cache_ttl=ttl
        ),
        Endpoint(
            "gatepass session, SQLite, no cache", "/sqlite-nc/me", cookies(sqlite_ids), "session"
        ),
    ]
    if config.get("redis_prefix"):
        redis_ids = [session_id(i, "http-redis") for i in range(rotate)]
        found += [
            Endpoint(f"gatepass session, Redis{suffix}", path, cookies(redis_ids), "session",
                     cache_ttl=cached)
            for suffix, path, cached in ((" + local cache", "/redis/me", ttl),
                                         (", no cache", "/redis-nc/me", 0.0))
        ]  # fmt: skip
    if config.get("postgres_url"):
        pg_ids = lookup_ids(config["postgres_sessions"], rotate, SQLITE_SALT)
        found.append(
            Endpoint(
                "gatepass session, PostgreSQL + local cache", "/pg/me", cookies(pg_ids), "session",
                cache_ttl=ttl,
            )
        )  # fmt: skip
    if importable("jwt"):
        found += [
            Endpoint("PyJWT HS256 (anchor)", "/pyjwt/hs256", bearers["HS256"], "anchor"),
            Endpoint("PyJWT EdDSA (anchor)", "/pyjwt/eddsa", bearers["EdDSA"], "anchor"),
        ]
    if config.get("starsessions_prefix"):
        star_ids = [session_id(i, "star") for i in range(rotate)]
        found.append(
            Endpoint(
                "starsessions + Redis (anchor)", "/star/me", cookies(star_ids, "session"), "anchor"
            )
        )
    return found


# -- the section ------------------------------------------------------------------------


def run(budget: Budget) -> Section:
    """Start the server, measure every endpoint in interleaved rounds, build the section."""
    fx = make_tokens()
    runner = AsyncRunner()
    try:
        config, missing = server_config(fx, budget, runner)
    finally:
        runner.close()
    eps = endpoints(fx, config, budget)
    runs: dict[str, list[Run]] = {ep.name: [] for ep in eps}
    # baselines[name][i]: the open endpoint's runs just before and just after runs[name][i]
    baselines: dict[str, list[tuple[Run, Run]]] = {ep.name: [] for ep in eps[1:]}
    progress = Progress("http", budget.http_rounds * (2 * len(eps) - 1))
    rng = random.Random(3)  # noqa: S311 - shuffling, not secrets
    with Server(config) as server, tempfile.TemporaryDirectory() as scripts:
        rss_start = server.rss_mib()

        def measure(ep: Endpoint) -> Run:
            measured = None
            for seconds in (budget.http_warmup, budget.http_seconds):
                measured = asyncio.run(
                    load_run(
                        server,
                        ep,
                        seconds,
                        threads=budget.http_threads,
                        connections=budget.http_connections,
                        script_dir=Path(scripts),
                    )
                )
            assert measured is not None
            progress.advance(note=ep.name)
            return measured

        order = list(eps[1:])
        for _ in range(budget.http_rounds):
            # open, E1, open, E2, ..., En, open: each endpoint between two open runs
            rng.shuffle(order)
            before = measure(eps[0])
            runs[eps[0].name].append(before)
            for ep in order:
                runs[ep.name].append(measure(ep))
                after = measure(eps[0])
                runs[eps[0].name].append(after)
                baselines[ep.name].append((before, after))
                before = after
        rss_end = server.rss_mib()
        facts = {
            "loop": server.loop,
            "http": server.http,
            "rss": f"{rss_start:.0f} -> {rss_end:.0f} MiB",
        }
    progress.close()
    interleaved, failures = _interleaved(config, eps, budget)
    counts = _instructions(fx, config, budget)
    with contextlib.suppress(Exception):
        asyncio.run(_cleanup())
    return _section(budget, eps, runs, baselines, missing, facts, counts, interleaved, failures)


#: The open path the null control (the open endpoint itself) is interleaved with.
OPEN_TWIN = "/open/b"
#: Rows not measured interleaved: the RS256 header control (each interleaved run sends
#: the open path the endpoint's own headers) and the store reads without a cache.
NOT_INTERLEAVED = frozenset(
    {RS256_CONTROL, "gatepass session, SQLite, no cache", "gatepass session, Redis, no cache"}
)


def _interleaved(
    config: dict[str, Any], eps: list[Endpoint], budget: Budget
) -> tuple[dict[str, list[Clocks]], dict[str, int]]:
    """Each endpoint's runs interleaved with the open endpoint, on a clocked server, and
    the non-2xx answers and socket errors of its measured runs.

    Rounds as in the separate runs (a shuffled order each; ``http_ttl_rounds`` of them
    for the rows through a session cache, whose runs last a whole TTL), each run after a
    warm-up of the same mix. The open endpoint's own row is the null control: it is
    interleaved with a second route to the same endpoint (``/open/b``), so its ratio shows
    what the method reads when there is no difference.
    """
    chosen = [ep for ep in eps if ep.name not in NOT_INTERLEAVED]
    clocks: dict[str, list[Clocks]] = {ep.name: [] for ep in chosen}
    failures = dict.fromkeys(clocks, 0)
    progress = Progress("http, interleaved", sum(_rounds(ep, budget) for ep in chosen))
    rng = random.Random(4)  # noqa: S311 - shuffling, not secrets
    with Server(config | {"clock": True}) as server, tempfile.TemporaryDirectory() as scripts:
        for round_index in range(budget.http_rounds):
            rng.shuffle(chosen)
            for ep in chosen:
                if round_index >= _rounds(ep, budget):
                    continue
                open_path = _open_path(ep)
                for seconds in _interleaved_seconds(ep, budget):
                    run, measured = asyncio.run(
                        interleaved_run(
                            server, ep, open_path, seconds, threads=budget.http_threads,
                            connections=budget.http_connections, script_dir=Path(scripts),
                        )
                    )  # fmt: skip
                clocks[ep.name].append(measured)
                failures[ep.name] += run.non_2xx + run.errors
                progress.advance(note=ep.name)
    progress.close()
    return clocks, failures


def _open_path(ep: Endpoint) -> str:
    """The open path ``ep`` is interleaved with (its twin for the open endpoint itself)."""
    return OPEN_TWIN if ep.path == "/open" else "/open"


def _rounds(ep: Endpoint, budget: Budget) -> int:
    """How many interleaved rounds measure ``ep`` (fewer for whole-TTL runs)."""
    return min(budget.http_rounds, budget.http_ttl_rounds) if ep.cache_ttl else budget.http_rounds


def _interleaved_seconds(ep: Endpoint, budget: Budget) -> tuple[float, float]:
    """The warm-up and the measured seconds of an interleaved run of ``ep``.

    Through a local session cache, the warm-up (``CACHE_FILL`` seconds longer) requests
    every id, so each is in the cache when the run starts, and the run lasts a whole number
    of TTLs. A read is kept 0.9 to 1 times the TTL, so each id's read goes stale once in
    every TTL of the run and is made again there, as often as a steady stream of requests
    pays it. Shorter, a run may see no read from the store at all.
    """
    if not ep.cache_ttl:
        return budget.http_warmup, budget.http_seconds
    ttl = math.ceil(ep.cache_ttl)
    return budget.http_warmup + CACHE_FILL, ttl * max(1, math.ceil(budget.http_seconds / ttl))


def summarize_interleaved(
    eps: list[Endpoint], clocks: dict[str, list[Clocks]]
) -> dict[str, dict[str, float]]:
    """Per endpoint, medians over rounds: the ratio to the open requests of the same run
    (and its range), the app's CPU µs per request of both, the rest, the steps."""
    summary: dict[str, dict[str, float]] = {}
    for ep in eps:
        runs = clocks.get(ep.name)
        if not runs:
            continue
        open_path = _open_path(ep)
        ratios = [c.ratio(ep.path, open_path) for c in runs]
        summary[ep.name] = {
            "ratio": median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "app_us": median(c.app_us(ep.path) for c in runs),
            "open_app_us": median(c.app_us(open_path) for c in runs),
            "outside_us": median(c.outside_us for c in runs),
            "steps": median(c.steps_per_request(ep.path) for c in runs),
            "requests": float(sum(c.requests for c in runs)),
        }
    return summary


def _instructions(fx: Tokens, config: dict[str, Any], budget: Budget) -> Counts | str:
    """The callgrind counts of every endpoint, or why there are none.

    The server under callgrind runs about 50 times slower, so its in-memory store holds
    only the sessions the requests rotate over, and its session cache keeps entries for
    60 s (the longest ``cache_ttl``) instead of 5 s: in either run an entry outlives
    thousands of requests. Each endpoint's warm-up visits every id it rotates over.
    """
    reason = instructions.unavailable()
    if reason is not None:
        return reason
    counted = config | {"memory_sessions": budget.instr_rotate, "cache_ttl": 60.0}
    eps = endpoints(fx, counted, budget.scaled(http_rotate=budget.instr_rotate))
    progress = Progress("http, callgrind", len(eps))
    try:
        return instructions.count_instructions(
            counted,
            eps,
            requests=budget.instr_requests,
            warmup=2 * budget.instr_rotate + 60,  # and outlast CPython's specialization
            progress=progress,
        )
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return f"callgrind run failed: {exc}"
    finally:
        progress.close()


async def _cleanup() -> None:
    await backends.delete_redis_prefix(REDIS_PREFIX)
    await backends.delete_redis_prefix(STAR_PREFIX)


def _paired_ratio(runs: list[Run], pairs: list[tuple[Run, Run]], attr: str) -> float:
    """Median over rounds of the run's value / the mean of the open runs around it."""
    ratios = []
    for run, (before, after) in zip(runs, pairs, strict=False):
        base = (getattr(before, attr) + getattr(after, attr)) / 2
        if base:
            ratios.append(getattr(run, attr) / base)
    return median(ratios) if ratios else 1.0


def summarize(
    eps: list[Endpoint], runs: dict[str, list[Run]], baselines: dict[str, list[tuple[Run, Run]]]
) -> dict[str, dict[str, float]]:
    """Median-of-rounds numbers per endpoint, and each run's ratio to the open runs
    measured just before and just after it (the first endpoint is the open one)."""
    summary: dict[str, dict[str, float]] = {}
    for ep in eps:
        rs = runs[ep.name]
        pairs = baselines.get(ep.name)
        summary[ep.name] = {
            "rps": median(r.rps for r in rs),
            "p50_ms": median(r.p50_ms for r in rs),
            "p99_ms": median(r.p99_ms for r in rs),
            "cpu_us": median(r.cpu_us for r in rs),
            "cpu_ratio": 1.0 if pairs is None else _paired_ratio(rs, pairs, "cpu_us"),
            "rps_ratio": 1.0 if pairs is None else _paired_ratio(rs, pairs, "rps"),
            "non_2xx": float(sum(r.non_2xx for r in rs)),
            "errors": float(sum(r.errors for r in rs)),
            "requests": float(sum(r.requests for r in rs)),
            "cpu_spread": (max(r.cpu_us for r in rs) - min(r.cpu_us for r in rs))
            / max(1e-9, median(r.cpu_us for r in rs)),
        }
    return summary


def _section(
    budget: Budget,
    eps: list[Endpoint],
    runs: dict[str, list[Run]],
    baselines: dict[str, list[tuple[Run, Run]]],
    missing: dict[str, str],
    facts: dict[str, str],
    counts: Counts | str,
    interleaved: dict[str, list[Clocks]],
    failures: dict[str, int],
) -> Section:
    summary = summarize(eps, runs, baselines)
    mixed = summarize_interleaved(eps, interleaved)
    open_cpu = summary[eps[0].name]["cpu_us"]
    rows = []
    for ep in eps:
        s = summary[ep.name]
        rows.append([
            ep.name, f"`{ep.path}`", f"{s['rps']:,.0f}", fmt_ratio(s["rps_ratio"]),
            f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}", f"{s['cpu_us']:.1f}",
            fmt_ratio(s["cpu_ratio"]), f"{s['cpu_us'] - open_cpu:+.1f}",
            f"{s['cpu_spread']:.0%}", f"{int(s['non_2xx'] + s['errors'])}",
        ])  # fmt: skip
    rows += [
        [name, "—", "not available", "", "", "", "", "", "", "", reason]
        for name, reason in missing.items()
    ]
    table = Table(
        f"HTTP, each endpoint in its own runs, median of {budget.http_rounds} rounds "
        f"(wrk -t{budget.http_threads} "
        f"-c{budget.http_connections}, {budget.http_seconds:g} s per endpoint per round)",
        ["endpoint", "path", "req/s", "req/s x open", "p50 ms", "p99 ms", "server CPU µs/req",
         "CPU x open", "CPU vs open µs", "CPU spread", "non-2xx + errors"],
        rows,
    )  # fmt: skip
    targets = []
    wanted = [f"gatepass JWT {alg} (cache hit)" for alg in ALGS] + [
        "gatepass session, memory",
        "gatepass session, SQLite",
        "gatepass session, Redis + local cache",
    ]
    for name in wanted:
        label = f"HTTP server CPU per request: {name.removeprefix('gatepass ')} vs open"
        if name not in mixed:
            targets.append(Target(label, 1.10, None, "not available"))
            continue
        m = mixed[name]
        detail = (
            f"{m['app_us'] + m['outside_us']:.1f} µs vs {m['open_app_us'] + m['outside_us']:.1f}"
            f" µs, interleaved (rounds {fmt_ratio(m['ratio_min'])}-{fmt_ratio(m['ratio_max'])})"
        )
        targets.append(Target(label, 1.10, m["ratio"], detail))
    notes = [
        f"uvicorn: 1 worker, --loop {facts['loop']}, --http {facts['http']}, access log off; "
        f"server RSS {facts['rss']}. wrk, uvicorn, Redis and PostgreSQL share the same cores.",
        "Each round measures the open endpoint before the first endpoint and after every "
        "endpoint (open, E1, open, E2, ..., open), so every run has an open run just before "
        "and just after it. CPU x open (and req/s x open) is the median over rounds of "
        "(endpoint CPU / the mean of those two open runs): the noise of a shared machine "
        "drifts over seconds, and a ratio to the adjacent runs cancels most of it. "
        "The open row is the median of all its runs; CPU spread is (max - min) / median "
        "across rounds.",
        f"Session requests rotate over {budget.http_rotate:,} ids; the memory and SQLite stores "
        f"hold {budget.http_memory_sessions:,} sessions, PostgreSQL "
        f"{budget.networked_sessions:,}. Session endpoints use "
        f"SessionSettings(cache_ttl={budget.http_cache_ttl:g})"
        + (
            ", as the auth server does for every store, "
            if budget.http_cache_ttl == SESSION_CACHE_TTL
            else f" (the auth server sets {SESSION_CACHE_TTL:g} s), "
        )
        + "with the revocation feed running (the cache is trusted only while the feed is "
        "healthy); the 'no cache' rows set cache_ttl=0, so every request reads the store. "
        "These runs are shorter than the TTL: their cached rows show the cache's hits; the "
        "interleaved runs below last whole TTLs, reads from the store included. "
        "touch_interval is 60 s: the first request of each session in a minute queues a "
        "last_seen write, which the background job writes in a batch every second.",
        f"JWT and PyJWT requests rotate over {budget.http_rotate:,} tokens per algorithm "
        "(one per user and login). The open endpoint's requests carry the first EdDSA "
        "one's Bearer header; session requests carry only the cookie.",
        "p50/p99 under a closed loop of many connections are mostly queueing "
        "(about connections / req/s), not service time.",
    ]
    if any(failures.values()) or any(
        summary[ep.name]["non_2xx"] + summary[ep.name]["errors"] for ep in eps
    ):
        notes.append("Some endpoint answered non-2xx or had socket errors: see the last column.")
    tables = [table, _interleaved_table(budget, eps, mixed, failures)]
    notes += _interleaved_notes(budget, mixed)
    if isinstance(counts, str):
        notes.append(f"Server instructions per request (callgrind): not measured: {counts}.")
        targets += [Target(_instr_label(name), 1.10, None, counts) for name in wanted]
    else:
        tables.append(_instructions_table(budget, counts))
        targets += _instructions_targets(counts, wanted)
        notes.append(instructions.NOTE)
        notes += _header_note(counts)
    notes += _locality_notes(summary, counts)
    return Section(
        key="http",
        title="3. HTTP through uvicorn",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=tables,
        targets=targets,
        notes=notes,
        data={
            "instructions": None if isinstance(counts, str) else vars(counts),
            "summary": summary,
            "runs": {k: [vars(r) for r in v] for k, v in runs.items()},
            "interleaved": mixed,
            "missing": missing,
            "facts": facts,
            "groups": {ep.name: ep.group for ep in eps},
        },
    )


def _interleaved_table(
    budget: Budget,
    eps: list[Endpoint],
    mixed: dict[str, dict[str, float]],
    failures: dict[str, int],
) -> Table:
    rows = []
    for ep in eps:
        if ep.name not in mixed:
            continue
        m = mixed[ep.name]
        rows.append([
            ep.name, f"`{ep.path}` + `{_open_path(ep)}`", f"{m['app_us']:.1f}",
            f"{m['open_app_us']:.1f}", f"{m['outside_us']:.1f}", f"**{fmt_ratio(m['ratio'])}**",
            f"{fmt_ratio(m['ratio_min'])}-{fmt_ratio(m['ratio_max'])}", f"{m['steps']:.2f}",
            f"{failures.get(ep.name, 0)}",
        ])  # fmt: skip
    return Table(
        f"Server CPU per request, interleaved with the open endpoint in the same run (median "
        f"of {budget.http_rounds} rounds, {budget.http_seconds:g} s each; "
        f"{min(budget.http_rounds, budget.http_ttl_rounds)} rounds of one whole cache TTL, "
        f"{budget.http_cache_ttl:g} s, for the session rows through the local cache)",
        ["endpoint", "paths", "app CPU µs/req", "open: app CPU µs/req", "rest µs/req",
         "CPU x open", "rounds", "app steps/req", "non-2xx + errors"],
        rows,
    )  # fmt: skip


def _interleaved_notes(budget: Budget, mixed: dict[str, dict[str, float]]) -> list[str]:
    notes = [
        "Interleaved (the table above; the CPU targets): a second server, its app clocked "
        "(benchmarks/clock.py), gets each endpoint's requests and the open endpoint's in the "
        "same run, one after the other from each wrk thread, with the same headers. The app "
        "adds the thread CPU time of each step of a request's coroutine to its path (a "
        "request that awaits a store is not charged for what runs meanwhile); the rest of "
        "the process's CPU time (uvicorn, the kernel, the event loop, background jobs), per "
        "request, is added to both sides. CPU x open = (app + rest) / (open app + rest). The "
        "clock's own cost (a system call, measured by the server at start) is taken out.",
        f"Session rows with the local cache (cache_ttl={budget.http_cache_ttl:g} s) warm up "
        f"until every id is cached ({CACHE_FILL:g} s) and are measured over a whole TTL: a "
        "read is kept 0.9 to 1 times the TTL, so every id is read again from the store in "
        "the run, once per TTL, as steady traffic pays it; a session used less often than "
        "here pays a read on a larger share of its requests (on each one, if used less than "
        "once a TTL). App steps/req above 1 are requests that awaited the store (a read).",
    ]
    null = mixed.get("open (no auth)")
    if null is not None:
        notes.append(
            "Null control: the open endpoint interleaved with a second route to itself "
            f"(`{OPEN_TWIN}`) reads {fmt_ratio(null['ratio'])} (rounds "
            f"{fmt_ratio(null['ratio_min'])}-{fmt_ratio(null['ratio_max'])}): what the method "
            "shows when there is no difference. The separate runs' CPU x open (first table) "
            "compare runs seconds apart, so the machine's drift between them is in their "
            "ratios; their control row (the open endpoint sent the longer RS256 header) is "
            "the same measurement's noise."
        )
    return notes


def _instr_label(name: str) -> str:
    return f"HTTP server instructions per request: {name.removeprefix('gatepass ')} vs open"


def _instructions_table(budget: Budget, counts: Counts) -> Table:
    base = counts.per_request["open (no auth)"]
    rows = [
        [name, f"{value / 1000:,.1f}k", f"**{fmt_ratio(value / base)}**",
         f"{(value - base) / 1000:+,.1f}k"]
        for name, value in counts.per_request.items()
    ]  # fmt: skip
    return Table(
        f"Server instructions per request (callgrind; {counts.requests} sequential requests "
        f"per endpoint on one connection, session ids rotating over {budget.instr_rotate})",
        ["endpoint", "instructions/request", "x open", "vs open"],
        rows,
    )


def _header_note(counts: Counts) -> list[str]:
    """How much of the RS256 row is uvicorn receiving a longer header (the control row)."""
    per = counts.per_request
    base, control = per["open (no auth)"], per.get(RS256_CONTROL)
    rs256 = per.get("gatepass JWT RS256 (cache hit)")
    if control is None or rs256 is None:
        return []
    return [
        f"RS256 tokens are the longest (a {RSA_GENERATED_BITS}-bit signature). Sent to the "
        "open endpoint instead of the EdDSA one, the RS256 header costs "
        f"{fmt_ratio(control / base)} the open request in instructions (uvicorn receiving and "
        f"parsing the longer header), so of the RS256 row's {fmt_ratio(rs256 / base)}, "
        f"{(rs256 - control) / base:.1%} of an open request is gatepass's own work."
    ]


def _locality_notes(summary: dict[str, dict[str, float]], counts: Counts | str) -> list[str]:
    """The one-client rows beside the rows that rotate over many clients, with their spreads.

    Rotating, each request reads another client's cached state, which the CPU's caches
    may no longer hold: a cost that instructions do not show. The note states what this
    run measured and leaves a difference within the rows' spreads to noise.
    """
    notes = []
    for name, single in ONE_CLIENT.items():
        if name not in summary or single not in summary:
            continue
        rotating, one = summary[name], summary[single]
        text = (
            f"{name.removeprefix('gatepass ')}: CPU x open {fmt_ratio(rotating['cpu_ratio'])} "
            f"rotating over the clients (spread {rotating['cpu_spread']:.0%}), "
            f"{fmt_ratio(one['cpu_ratio'])} with one client on every request (spread "
            f"{one['cpu_spread']:.0%})"
        )
        if not isinstance(counts, str) and name in counts.per_request:
            base = counts.per_request["open (no auth)"]
            text += (
                f"; in instructions {fmt_ratio(counts.per_request[name] / base)} and "
                f"{fmt_ratio(counts.per_request.get(single, float('nan')) / base)}"
            )
        notes.append(
            text + ". Rotating, each request reads another client's cached state (token or "
            "session entry, memo entries, Principal), which the CPU's caches may no longer "
            "hold: a cost that instructions do not show. A difference between the two CPU "
            "ratios smaller than their spreads is this machine's noise, not that cost."
        )
    return notes


def _instructions_targets(counts: Counts, wanted: list[str]) -> list[Target]:
    base = counts.per_request["open (no auth)"]
    targets = []
    for name in wanted:
        value = counts.per_request.get(name)
        if value is None:
            targets.append(Target(_instr_label(name), 1.10, None, "not available"))
            continue
        detail = f"{value / 1000:,.1f}k vs {base / 1000:,.1f}k instructions"
        targets.append(Target(_instr_label(name), 1.10, value / base, detail))
    return targets
