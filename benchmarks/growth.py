"""Section 5: how lookup cost and memory grow with the number of sessions and revocations.

- In-memory session store from 10^3 to 10^6 sessions: ``SessionManager.load`` time and
  bytes per stored session (the process's RSS delta of filling the store, and the
  ``tracemalloc`` delta of filling a second one, each divided by the count).
- The local session cache (``SessionSettings(cache_ttl=...)``): bytes per cached entry.
- The in-memory ``RevocationSet`` from 10^2 to 10^5 revoked jtis: ``is_revoked`` for a
  token that is not revoked (the common case), ``Authenticator.authenticate`` of a
  cached Bearer token (which checks revocation on every hit), bytes per revoked jti.
- Redis (when the store is available): ``used_memory`` per stored session and per
  revoked jti. SQLite: file bytes per session of the largest cached file.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Callable
from functools import partial
from itertools import cycle
from typing import Any

from benchmarks import backends
from benchmarks.fixtures import (
    NotAvailable,
    cache_dir,
    lookup_ids,
    lookup_sample,
    make_tokens,
    session_record,
)
from benchmarks.harness import (
    AsyncRunner,
    Budget,
    Case,
    Progress,
    fmt_ratio,
    fmt_us,
    measure,
    measure_steps,
)
from benchmarks.report import Section, Table, Target
from benchmarks.sessions import load_case, manager_for
from gatepass.authenticator import Authenticator
from gatepass.stores.base import RevocationEvent
from gatepass.stores.memory import MemoryStore
from gatepass.stores.sqlite import SCHEMA_VERSION
from gatepass.transports.base import Credential

__all__ = ["run"]

_FAR = 4.0e9  # revocations that never expire during the run
_TRACED_MAX = 100_000


def _traced(fn: Callable[[], object]) -> int:
    """Bytes still allocated after ``fn()`` returns (tracemalloc), after a collection."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _rss() -> int:
    """Resident set size of this process now, bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_stores(
    runner: AsyncRunner, budget: Budget, progress: Progress
) -> tuple[dict[int, MemoryStore], dict[int, float], dict[int, float]]:
    """Stores of each size; bytes per session by tracemalloc (up to 10^5) and by RSS."""
    stores: dict[int, MemoryStore] = {}
    traced: dict[int, float] = {}
    rss: dict[int, float] = {}

    async def fill(store: MemoryStore, size: int) -> None:
        for index in range(size):
            await store.create_session(session_record(index, "growth"))

    for size in budget.growth_session_sizes:
        store = MemoryStore()
        gc.collect()
        before = _rss()
        runner.run(fill(store, size))
        gc.collect()
        rss[size] = (_rss() - before) / size
        stores[size] = store
        if size <= _TRACED_MAX:  # tracemalloc gets very slow beyond this
            spare = MemoryStore()  # alive until measured
            traced[size] = _traced(partial(runner.run, fill(spare, size))) / size
            del spare
        progress.advance(note=f"memory store {size:,}")
    return stores, traced, rss


def _cache_bytes(runner: AsyncRunner, store: MemoryStore, size: int, entries: int) -> float:
    manager = runner.run(manager_for(store, cache_ttl=60.0))
    ids = lookup_ids(size, min(entries, size), "growth")

    async def load_all() -> None:
        for sid in ids:
            await manager.load(sid)

    return _traced(lambda: runner.run(load_all())) / len(ids)


def _revocations(
    runner: AsyncRunner, budget: Budget, progress: Progress
) -> tuple[list[Case], dict[int, float]]:
    fx = make_tokens()
    token = fx.tokens["EdDSA"]
    cases: list[Case] = []
    per_record: dict[int, float] = {}
    for size in budget.growth_revocation_sizes:
        authenticator = Authenticator(store=MemoryStore(), keyring=fx.keyring, tokens=fx.settings)
        authenticator.feed.staleness = 1e9
        runner.run(authenticator.feed.sync_once())
        revocations = authenticator.feed.revocations

        def fill(size: int = size, revocations: Any = revocations) -> None:
            events = [
                RevocationEvent(i + 1, "jti", f"jti-{i:012d}-{'x' * 8}", _FAR) for i in range(size)
            ]
            revocations.apply_feed(events)
            del events

        per_record[size] = _traced(fill) / size
        credentials = [Credential("bearer", token)]
        runner.run(authenticator.authenticate(credentials))  # fill the token cache
        probes = cycle([f"jti-live-{i}" for i in range(1000)])

        def probe(n: int, revocations: Any = revocations, probes: Any = probes) -> None:
            for _ in range(n):
                revocations.is_revoked(jti=next(probes), sid="sid-live", user_id="u", iat=1.0)

        async def auth(
            authenticator: Authenticator = authenticator, credentials: Any = credentials
        ) -> object:
            return await authenticator.authenticate(credentials)

        cases.append(Case(f"{size}|RevocationSet.is_revoked", probe))
        cases.append(runner.case(f"{size}|authenticate (JWT cache hit)", auth))
        progress.advance(note=f"revocations {size:,}")
    return cases, per_record


def _redis_bytes(runner: AsyncRunner, budget: Budget) -> dict[str, float] | str:
    prefix = "gpbench:growth:"
    try:
        store: Any = runner.run(backends.open_redis(prefix))
    except NotAvailable as exc:
        return str(exc)
    count = budget.redis_records
    try:
        before = runner.run(backends.redis_used_memory())
        runner.run(backends.populate(store, count, "growth-redis"))
        middle = runner.run(backends.redis_used_memory())

        async def revoke() -> None:
            for i in range(count):
                await store.add_revocation("jti", f"jti-{i:012d}-{'x' * 8}", _FAR, 1.0)

        runner.run(revoke())
        after = runner.run(backends.redis_used_memory())
    finally:
        runner.run(store.aclose())
        runner.run(backends.delete_redis_prefix(prefix))
    return {"sessions": (middle - before) / count, "revocations": (after - middle) / count}


#: The case of the largest in-memory store looked up over ``budget.lookup_ids`` ids.
MANY_IDS = "many ids|SessionManager.load (memory)"
#: How many session ids' hashes SessionManager.load memoizes.
ID_MEMO_SIZE = 4096


def _many(budget: Budget) -> int:
    """1 if the largest store is also looked up over more ids than every size is, else 0."""
    return int(budget.lookup_ids > lookup_sample(budget.lookup_ids, budget.growth_session_sizes))


def run(budget: Budget) -> Section:
    """Fill the stores at each size, measure memory, then time lookups interleaved."""
    runner = AsyncRunner()
    progress = Progress(
        "growth",
        len(budget.growth_session_sizes) + len(budget.growth_revocation_sizes) + 2
        + measure_steps([Case("", print)] * (len(budget.growth_session_sizes) + _many(budget)
                                              + 2 * len(budget.growth_revocation_sizes)), budget),
    )  # fmt: skip
    try:
        stores, session_bytes, session_rss = _memory_stores(runner, budget, progress)
        largest = max(stores)
        cache_bytes = _cache_bytes(runner, stores[largest], largest, budget.cache_entries)
        progress.advance(note="session cache")
        redis = _redis_bytes(runner, budget)
        progress.advance(note="redis memory")
        cases: list[Case] = []
        sample = lookup_sample(budget.lookup_ids, budget.growth_session_sizes)
        for size, store in stores.items():
            manager = runner.run(manager_for(store))
            ids = lookup_ids(size, sample, "growth")
            cases.append(load_case(runner, f"{size}|SessionManager.load (memory)", manager, ids))
        if _many(budget):  # as many ids as the clients of a large store use
            manager = runner.run(manager_for(stores[largest]))
            ids = lookup_ids(largest, budget.lookup_ids, "growth")
            cases.append(load_case(runner, MANY_IDS, manager, ids))
        revocation_cases, revocation_bytes = _revocations(runner, budget, progress)
        cases += revocation_cases
        timings = measure(cases, budget, progress)
        progress.close()
        for store in stores.values():
            runner.run(store.aclose())
    finally:
        runner.close()
    return _section(
        budget, timings, (session_bytes, session_rss), cache_bytes, revocation_bytes, redis
    )


def _sqlite_bytes(budget: Budget) -> tuple[int, float] | None:
    size = budget.session_sizes[-1]
    path = cache_dir() / f"sessions-s{SCHEMA_VERSION}-b2-{size}.db"
    if not path.exists():
        return None
    return size, os.path.getsize(path) / size


def _section(
    budget: Budget,
    timings: dict[str, Any],
    session_memory: tuple[dict[int, float], dict[int, float]],
    cache_bytes: float,
    revocation_bytes: dict[int, float],
    redis: dict[str, float] | str,
) -> Section:
    med = {k: t.median_us for k, t in timings.items()}
    sizes = budget.growth_session_sizes
    first = med[f"{sizes[0]}|SessionManager.load (memory)"]
    session_bytes, session_rss = session_memory
    session_rows = []
    for size in sizes:
        load = med[f"{size}|SessionManager.load (memory)"]
        per = session_bytes.get(size, session_rss[size])
        how = "tracemalloc" if size in session_bytes else "RSS delta"
        session_rows.append([
            f"{size:,}", fmt_us(load), fmt_ratio(load / first), f"{per:,.0f}", how,
            f"{per * size / 2**20:,.1f}",
        ])  # fmt: skip
    rsizes = budget.growth_revocation_sizes
    r0 = med[f"{rsizes[0]}|RevocationSet.is_revoked"]
    a0 = med[f"{rsizes[0]}|authenticate (JWT cache hit)"]
    revocation_rows = []
    for size in rsizes:
        probe = med[f"{size}|RevocationSet.is_revoked"]
        auth = med[f"{size}|authenticate (JWT cache hit)"]
        revocation_rows.append([
            f"{size:,}", fmt_us(probe), fmt_ratio(probe / r0), fmt_us(auth),
            fmt_ratio(auth / a0), f"{revocation_bytes[size]:,.0f}",
        ])  # fmt: skip
    storage_rows = [
        [
            "session cache entry (SessionManager, cache_ttl > 0)",
            f"{cache_bytes:,.0f}",
            "tracemalloc",
        ]
    ]
    if isinstance(redis, dict):
        how = f"used_memory delta over {budget.redis_records:,}"
        storage_rows += [
            ["Redis: one session (RedisStore.create_session)", f"{redis['sessions']:,.0f}", how],
            ["Redis: one revoked jti (add_revocation)", f"{redis['revocations']:,.0f}", how],
        ]
    else:
        storage_rows.append(["Redis", "not available", redis])
    sqlite = _sqlite_bytes(budget)
    if sqlite is not None:
        storage_rows.append(
            [
                f"SQLite: one session (file size / {sqlite[0]:,})",
                f"{sqlite[1]:,.0f}",
                "on disk, with indexes",
            ]
        )
    big = med[f"{sizes[-1]}|SessionManager.load (memory)"]
    sample = lookup_sample(budget.lookup_ids, sizes)
    many_note = ""
    if MANY_IDS in med:
        beyond = (
            f", more than the {ID_MEMO_SIZE:,} ids whose hashes SessionManager.load "
            "memoizes (so each load also checks and hashes its id; with the local session "
            "cache, a hit does neither)"
            if budget.lookup_ids > ID_MEMO_SIZE
            else ""
        )
        many_note = (
            f" Over {budget.lookup_ids:,} ids at {sizes[-1]:,} sessions{beyond}: "
            f"{fmt_us(med[MANY_IDS])} µs, {fmt_ratio(med[MANY_IDS] / first)} the smallest "
            "size's."
        )
    targets = [
        Target(
            f"in-memory session lookup at {sizes[-1]:,} vs {sizes[0]:,} sessions",
            1.5,
            big / first,
            f"{fmt_us(big)} µs vs {fmt_us(first)} µs (SessionManager.load)",
        )
    ]
    return Section(
        key="growth",
        title="5. Cost growth",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=[
            Table(
                "In-memory session store",
                [
                    "sessions",
                    "load µs",
                    "x smallest",
                    "bytes/session",
                    "measured by",
                    "MiB in all",
                ],
                session_rows,
            ),
            Table(
                "Revoked jtis in memory (RevocationSet)",
                [
                    "revoked jtis",
                    "is_revoked µs",
                    "x smallest",
                    "authenticate µs",
                    "x smallest",
                    "bytes/jti",
                ],
                revocation_rows,
            ),
            Table("Memory per record", ["record", "bytes", "how"], storage_rows),
        ],
        targets=targets,
        notes=[
            f"Each size is looked up over the same {sample:,} ids (a growth ratio compares "
            "populations, not also how many clients are active)." + many_note,
            "tracemalloc counts Python allocations only (not allocator slack), so RSS "
            f"grows somewhat more; it is used up to {_TRACED_MAX:,} records (it slows "
            "allocation down a lot beyond that), RSS deltas above. Redis used_memory is "
            "server-wide: other clients writing during the run would show up here.",
        ],
        data={
            "timings": {k: t.as_dict() for k, t in timings.items()},
            "session_bytes": session_bytes,
            "session_rss_bytes": session_rss,
            "cache_bytes": cache_bytes,
            "revocation_bytes": revocation_bytes,
            "redis": redis,
            "sqlite_bytes": sqlite,
        },
    )
