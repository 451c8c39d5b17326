"""Section 2: session lookup per store, through ``SessionManager.load``.

A lookup is what a request with a session cookie costs: the id's format check, its
SHA-256, the store read (or the local cache), the timeout checks. Lookups cycle over
random existing ids. ``touch_session`` writes are excluded from the lookup rows
(``touch_interval`` longer than the run; they are throttled to one per session per
interval) and timed on their own row. Redis and PostgreSQL run with and without the local
read cache (``SessionSettings(cache_ttl=...)``), whose entries are trusted only while the
revocation feed is healthy (it is, here: no revocations happen).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

from benchmarks import backends
from benchmarks.fixtures import (
    SQLITE_SALT,
    NotAvailable,
    lookup_ids,
    lookup_sample,
    sqlite_sessions,
)
from benchmarks.harness import (
    AsyncRunner,
    Budget,
    Case,
    Progress,
    Timing,
    cycle_case,
    fmt_ratio,
    fmt_us,
    measure,
    measure_steps,
)
from benchmarks.report import Section, Table, Target
from gatepass._utils import hash_token
from gatepass.config import SessionSettings
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.server.app import SESSION_CACHE_TTL
from gatepass.sessions.manager import SessionManager
from gatepass.stores.base import SessionRecord, Store
from gatepass.stores.memory import MemoryStore
from gatepass.stores.sqlite import SQLiteStore

__all__ = ["CountingStore", "manager_for", "run"]

_DAY = 86400
#: The session TTLs of the benchmark managers: touches never fall due during a run.
NO_TOUCH = SessionSettings(idle_ttl=400 * _DAY, absolute_ttl=400 * _DAY, touch_interval=399 * _DAY)
#: The micro-benchmark's cache TTL: the auth server's. Repeats of a case are seconds
#: apart (every other case runs in between); the HTTP section measures the reads again.
MICRO_CACHE_TTL = SESSION_CACHE_TTL
_SELECT = "SELECT * FROM sessions WHERE id_hash = ?"


class CountingStore:
    """Forwards to a store and counts ``get_session`` calls (to report cache hit rates)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.reads = 0

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        """Count, then forward."""
        self.reads += 1
        return await self.inner.get_session(id_hash)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def manager_for(
    store: Any, *, cache_ttl: float = 0.0, settings: SessionSettings = NO_TOUCH
) -> SessionManager:
    """A SessionManager with a healthy revocation feed (synced once, never stale here)."""
    feed = RevocationFeed(store, RevocationSet(), staleness=1e9, max_wait=0.5)
    await feed.sync_once()
    revoker = Revoker(store, feed=feed)
    tuned = SessionSettings(
        idle_ttl=settings.idle_ttl,
        absolute_ttl=settings.absolute_ttl,
        touch_interval=settings.touch_interval,
        cache_ttl=cache_ttl,
        cache_size=max(settings.cache_size, 20_000),
    )
    return SessionManager(store, revoker, tuned)


@dataclass
class _Plan:
    cases: list[Case] = field(default_factory=list)
    rows: dict[str, str] = field(default_factory=dict)  # case name -> store label
    unavailable: dict[str, str] = field(default_factory=dict)
    counters: dict[str, tuple[list[int], CountingStore]] = field(default_factory=dict)
    cleanup: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    built: dict[int, float] = field(default_factory=dict)


def load_case(runner: AsyncRunner, name: str, manager: SessionManager, ids: list[str]) -> Case:
    """A case of ``manager.load``, cycling over ``ids``."""
    it = cycle(ids)

    async def op() -> object:
        return await manager.load(next(it))

    return runner.case(name, op)


def _get_case(runner: AsyncRunner, name: str, store: Any, ids: list[str]) -> Case:
    it = cycle([hash_token(i) for i in ids])

    async def op() -> object:
        return await store.get_session(next(it))

    return runner.case(name, op)


def _touch_case(runner: AsyncRunner, name: str, store: Any, ids: list[str]) -> Case:
    it = cycle([hash_token(i) for i in ids])

    async def op() -> object:
        return await store.touch_session(next(it), time.time())

    return runner.case(name, op)


def _counted_load(
    runner: AsyncRunner, plan: _Plan, name: str, manager: SessionManager, ids: list[str]
) -> Case:
    counter = [0]
    it = cycle(ids)

    async def op() -> object:
        counter[0] += 1
        return await manager.load(next(it))

    store = manager._store
    assert isinstance(store, CountingStore)
    plan.counters[name] = (counter, store)
    return runner.case(name, op)


def _sample(budget: Budget) -> int:
    """How many ids every store's lookups cycle over: the same number at every size."""
    return lookup_sample(budget.lookup_ids, budget.session_sizes)


def _warm(runner: AsyncRunner, manager: SessionManager, ids: list[str]) -> None:
    async def all_once() -> None:
        for sid in ids:
            await manager.load(sid)

    runner.run(all_once())


def _plan_memory(runner: AsyncRunner, budget: Budget, plan: _Plan) -> None:
    size = budget.networked_sessions
    store = MemoryStore()
    runner.run(backends.populate(store, size, "memory"))
    ids = lookup_ids(size, _sample(budget), "memory")
    manager = runner.run(manager_for(store))
    _warm(runner, manager, ids)
    label = f"memory, {size:,} sessions"
    plan.sizes[label] = size
    for case in (
        load_case(runner, f"{label}|SessionManager.load", manager, ids),
        _get_case(runner, f"{label}|store.get_session", store, ids),
    ):
        plan.cases.append(case)
        plan.rows[case.name] = label
    plan.cleanup.append(store.aclose)


def _plan_sqlite(runner: AsyncRunner, budget: Budget, plan: _Plan) -> None:
    for size in budget.session_sizes:
        path, built = sqlite_sessions(size, runner.run)
        plan.built[size] = built
        store = SQLiteStore(path)
        runner.run(store.open())
        ids = lookup_ids(size, _sample(budget), SQLITE_SALT)
        manager = runner.run(manager_for(store))
        _warm(runner, manager, ids)
        label = f"SQLite, {size:,} sessions"
        plan.sizes[label] = size
        conn = sqlite3.connect(path, check_same_thread=False)
        hashes = [hash_token(i) for i in ids]
        cases = [
            load_case(runner, f"{label}|SessionManager.load", manager, ids),
            _get_case(runner, f"{label}|store.get_session", store, ids),
            cycle_case(f"{label}|sqlite3 PK SELECT (floor)", _selector(conn), hashes),
        ]
        if size == budget.session_sizes[0]:
            cases.append(_touch_case(runner, f"{label}|store.touch_session (a write)", store, ids))
        for case in cases:
            plan.cases.append(case)
            plan.rows[case.name] = label
        plan.cleanup.append(store.aclose)
        plan.cleanup.append(_closer(conn))


def _selector(conn: sqlite3.Connection) -> Callable[[str], object]:
    def select(id_hash: str) -> object:
        return conn.execute(_SELECT, (id_hash,)).fetchone()

    return select


def _closer(conn: sqlite3.Connection) -> Callable[[], Awaitable[object]]:
    async def close() -> None:
        conn.close()

    return close


def _plan_networked(
    runner: AsyncRunner, budget: Budget, plan: _Plan, name: str, store: Any, size: int, salt: str
) -> None:
    ids = lookup_ids(size, _sample(budget), salt)
    label = f"{name}, {size:,} sessions"
    plan.sizes[label] = size
    # The cache serves the sessions in active use: a hot set revisited within cache_ttl
    # (as a server's sessions are, request after request), at most the HTTP rotation.
    hot = ids[: budget.http_rotate]
    plain = runner.run(manager_for(store))
    counting = CountingStore(store)
    cached = runner.run(manager_for(counting, cache_ttl=MICRO_CACHE_TTL))
    _warm(runner, plain, ids)
    _warm(runner, cached, hot)
    counting.reads = 0
    cached_name = (
        f"{label}|SessionManager.load, cache_ttl={MICRO_CACHE_TTL:g} s, {len(hot):,} hot ids"
    )
    counted = _counted_load(runner, plan, cached_name, cached, hot)
    counted.min_n = 2 * len(hot)  # every repeat walks the whole hot set, twice
    for case in (
        load_case(runner, f"{label}|SessionManager.load, no cache", plain, ids),
        counted,
        _get_case(runner, f"{label}|store.get_session", store, ids),
    ):
        plan.cases.append(case)
        plan.rows[case.name] = label
    plan.cleanup.append(store.aclose)


def _plan_postgres(runner: AsyncRunner, budget: Budget, plan: _Plan) -> None:
    size = budget.networked_sessions
    try:
        store = runner.run(backends.open_postgres(size))
    except NotAvailable as exc:
        plan.unavailable["PostgreSQL"] = str(exc)
        return
    _plan_networked(runner, budget, plan, "PostgreSQL", store, size, SQLITE_SALT)


def _plan_redis(runner: AsyncRunner, budget: Budget, plan: _Plan) -> None:
    size = min(budget.networked_sessions, 20_000)
    prefix = "gpbench:sessions:"
    try:
        store = runner.run(backends.open_redis(prefix))
        runner.run(backends.populate(store, size, "redis"))
    except NotAvailable as exc:
        plan.unavailable["Redis"] = str(exc)
        return
    _plan_networked(runner, budget, plan, "Redis", store, size, "redis")

    async def drop() -> None:
        await backends.delete_redis_prefix(prefix)

    plan.cleanup.append(drop)


def run(budget: Budget) -> Section:
    """Build the stores, time every lookup case interleaved, return the section."""
    runner = AsyncRunner()
    plan = _Plan()
    try:
        for step in (_plan_memory, _plan_sqlite, _plan_postgres, _plan_redis):
            step(runner, budget, plan)
        progress = Progress("sessions", measure_steps(plan.cases, budget))
        timings = measure(plan.cases, budget, progress)
        progress.close()
        hit_rates = {
            name: 1 - store.reads / max(1, count[0])
            for name, (count, store) in plan.counters.items()
        }
    finally:
        for close in reversed(plan.cleanup):
            with contextlib.suppress(Exception):  # closing is best effort
                runner.run(close())
        runner.close()
    return _section(budget, plan, timings, hit_rates)


def _section(
    budget: Budget, plan: _Plan, timings: dict[str, Timing], hit_rates: dict[str, float]
) -> Section:
    base_name = next(n for n in timings if n.endswith("|SessionManager.load"))
    base = timings[base_name].median_us
    rows: list[list[str]] = []
    for name, timing in timings.items():
        label, what = name.split("|", 1)
        if name in hit_rates:
            what += f" (hit rate {hit_rates[name]:.2%})"
        rows.append([
            label, what, fmt_us(timing.median_us), fmt_us(timing.min_us), fmt_us(timing.max_us),
            fmt_ratio(timing.median_us / base),
        ])  # fmt: skip
    for name, reason in plan.unavailable.items():
        rows.append([name, "not available", "n/a", "n/a", "n/a", reason])
    table = Table(
        f"Session lookup, µs/op (median, min, max of {budget.repeats} interleaved repeats)",
        ["store", "operation", "median", "min", "max", "x memory load"],
        rows,
    )
    growth_rows: list[list[str]] = []
    sizes = budget.session_sizes
    small = f"SQLite, {sizes[0]:,} sessions"
    targets: list[Target] = []
    for size in sizes:
        label = f"SQLite, {size:,} sessions"
        load = timings[f"{label}|SessionManager.load"].median_us
        floor = timings[f"{label}|sqlite3 PK SELECT (floor)"].median_us
        load0 = timings[f"{small}|SessionManager.load"].median_us
        floor0 = timings[f"{small}|sqlite3 PK SELECT (floor)"].median_us
        growth_rows.append([
            f"{size:,}", fmt_us(load), fmt_ratio(load / load0), fmt_us(floor),
            fmt_ratio(floor / floor0), fmt_us(load - floor),
            "cached file" if plan.built.get(size) == 0 else f"built in {plan.built[size]:.1f} s",
        ])  # fmt: skip
    big = f"SQLite, {sizes[-1]:,} sessions"
    load_big = timings[f"{big}|SessionManager.load"].median_us
    load_small = timings[f"{small}|SessionManager.load"].median_us
    targets.append(
        Target(
            f"SQLite session lookup at {sizes[-1]:,} vs {sizes[0]:,} sessions",
            1.5,
            load_big / load_small,
            f"{fmt_us(load_big)} µs vs {fmt_us(load_small)} µs (SessionManager.load)",
        )
    )
    growth = Table(
        "SQLite lookup vs table size (gatepass SessionManager.load and the raw sqlite3 floor)",
        [
            "sessions",
            "load µs",
            "x smallest",
            "sqlite3 µs",
            "x smallest",
            "gatepass above floor µs",
            "db",
        ],
        growth_rows,
    )
    data = {
        "timings": {k: t.as_dict() for k, t in timings.items()},
        "hit_rates": hit_rates,
        "unavailable": plan.unavailable,
        "sizes": plan.sizes,
        "sqlite_sizes": list(sizes),
    }
    notes = [
        f"Lookups cycle over {_sample(budget):,} random existing ids in every store, at "
        "every size (the smallest SQLite store's count: a ratio between sizes compares "
        "populations, not also how many ids the clients use). gatepass's SQLite store "
        "runs in WAL mode with its default page cache and maps up to 2 GiB of the file "
        "for reads; the floor is a plain sqlite3 connection (no map). The file sits in "
        "the OS page cache (warm), as in PERF.md.",
        "Redis and PostgreSQL are reached over loopback TCP; their uncached rows are wall "
        "time of one round trip per lookup. The cached rows cycle over a hot set of "
        f"{budget.http_rotate:,} sessions (the HTTP section's rotation) with "
        f"the auth server's cache_ttl={MICRO_CACHE_TTL:g} s; the HTTP section measures "
        "requests over whole TTLs, so with the reads from the store made again once per TTL. "
        "The hit rate is counted over calibration and repeats.",
        "Cached SQLite files live in $TMPDIR/gatepass-bench (GATEPASS_BENCH_CACHE) and are "
        "reused by later runs; PostgreSQL rows in schema gatepass_bench; Redis keys under "
        "gpbench:* are deleted at the end.",
    ]
    return Section(
        key="sessions",
        title="2. Session lookup per store",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=[table, growth],
        targets=targets,
        notes=notes,
        data=data,
    )
