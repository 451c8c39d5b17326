"""The session-lookup benchmarks compare store sizes over the same ids.

A lookup's cost depends on how many distinct ids the clients use as well as on how many
sessions the store holds (``SessionManager.load`` memoizes the hashes of 4,096 ids), so a
ratio between sizes must hold the ids constant to measure the store. Nothing here
asserts on speed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from benchmarks import fixtures, growth, sessions
from benchmarks.fixtures import lookup_sample
from benchmarks.harness import SMOKE, AsyncRunner
from benchmarks.plots import render_plots

from gatepass.sessions.manager import _id_hash


def _spy(monkeypatch: pytest.MonkeyPatch, module: object) -> list[tuple[int, int]]:
    """Record (population, ids) of every lookup_ids call ``module`` makes."""
    calls: list[tuple[int, int]] = []

    def spy(count: int, sample: int, salt: str, seed: int = 7) -> list[str]:
        calls.append((count, sample))
        return fixtures.lookup_ids(count, sample, salt, seed)

    monkeypatch.setattr(module, "lookup_ids", spy)
    return calls


def test_lookup_sample_is_one_count_for_every_size_at_most_the_smallest() -> None:
    assert 1_000 == lookup_sample(10_000, (1_000, 100_000, 1_000_000))
    assert 300 == lookup_sample(300, (1_000, 10_000))
    assert 100 == lookup_sample(10_000, (1_000, 100))


def test_the_id_memo_size_the_report_names_is_the_one_load_uses() -> None:
    assert growth.ID_MEMO_SIZE == _id_hash.cache_parameters()["maxsize"]


@pytest.mark.timeout(120)
def test_growth_looks_every_size_up_over_the_same_ids_and_the_largest_over_many(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _spy(monkeypatch, growth)
    budget = dataclasses.replace(SMOKE, lookup_ids=300, growth_session_sizes=(100, 1_000))

    section = growth.run(budget)

    # Both sizes over the same 100 ids (before: 100 at 100 sessions, 300 at 1,000), and
    # the largest once more over all 300.
    assert {(100, 100), (1_000, 100), (1_000, 300)} <= set(calls)
    assert (100, 300) not in calls
    assert growth.MANY_IDS in section.data["timings"]
    assert "looked up over the same 100 ids" in section.notes[0]
    assert "Over 300 ids at 1,000 sessions:" in section.notes[0]
    # The target compares the two sizes' rows, not the many-ids case.
    timings = section.data["timings"]
    big = timings["1000|SessionManager.load (memory)"]["median_us"]
    small = timings["100|SessionManager.load (memory)"]["median_us"]
    assert section.targets[0].measured == pytest.approx(big / small)
    # The plot draws the sizes' rows (its key is not a size).
    assert [tmp_path / "bench-growth.png"] == render_plots([section], tmp_path)


@pytest.mark.timeout(120)
def test_sqlite_sizes_are_looked_up_over_the_same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy(monkeypatch, sessions)
    budget = dataclasses.replace(SMOKE, lookup_ids=300, session_sizes=(100, 1_000))
    runner = AsyncRunner()
    plan = sessions._Plan()
    try:
        sessions._plan_sqlite(runner, budget, plan)
        for close in plan.cleanup:
            runner.run(close())
    finally:
        runner.close()

    assert [(100, 100), (1_000, 100)] == calls
    assert {100, 1_000} == set(plan.sizes.values())
