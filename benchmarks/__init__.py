"""gatepass's benchmark suite: run it as ``gatepass bench`` or ``make bench``.

Sections (each a module with ``run(budget) -> Section``):

- ``verify``: access-token verification per algorithm vs PyJWT, joserfc, the floor;
- ``sessions``: session lookup per store and table size;
- ``http``: requests through uvicorn, open vs protected endpoints, and the anchors;
- ``storm``: protected-request latency while argon2 logins run in threads;
- ``growth``: lookup cost and memory per record as sessions and revocations grow.

The report (markdown, JSON, PNG plots) goes to ``benchmarks/out/`` unless told otherwise.
This package is not installed with the wheel: it runs from a source checkout.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

from benchmarks.harness import FULL, QUICK, SMOKE, Budget
from benchmarks.report import Section, collect_machine, load_average, render, write_results

__all__ = ["BUDGET_ENV", "DEFAULT_OUT", "SECTIONS", "main", "run_sections"]

#: Overrides the budget by name (``full``, ``quick``, ``smoke``: the tests use ``smoke``).
BUDGET_ENV = "GATEPASS_BENCH_BUDGET"
_BUDGETS = {b.name: b for b in (FULL, QUICK, SMOKE)}

SECTIONS = ("verify", "sessions", "http", "storm", "growth")
DEFAULT_OUT = Path(__file__).resolve().parent / "out"
_TITLES = {
    "verify": "1. Access-token verification per algorithm",
    "sessions": "2. Session lookup per store",
    "http": "3. HTTP through uvicorn",
    "storm": "4. Login storm",
    "growth": "5. Cost growth",
}


def run_sections(keys: Iterable[str], budget: Budget) -> list[Section]:
    """Run the named sections in order; a failing section becomes an error entry."""
    sections: list[Section] = []
    for key in keys:
        start = time.monotonic()
        print(f"== {_TITLES[key]} ({budget.name})", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{key}")
            section: Section = module.run(budget)
        except Exception as exc:  # report the failure, go on with the other sections
            traceback.print_exc()
            section = Section(key=key, title=_TITLES[key], error=f"{type(exc).__name__}: {exc}")
        section.seconds = time.monotonic() - start
        sections.append(section)
    return sections


def main(
    *,
    quick: bool = False,
    only: Iterable[str] | None = None,
    out: str | Path | None = None,
    budget: Budget | None = None,
    command: str = "gatepass bench",
    plots: bool = True,
) -> int:
    """Run the suite and write ``report.md``, ``results.json`` and ``img/*.png`` to ``out``.

    Returns:
        0, or 1 if a section failed (its error is in the report).
    """
    chosen = [key for key in SECTIONS if only is None or key in set(only)]
    unknown = set(only or ()) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections: {sorted(unknown)}")
    if budget is None and os.environ.get(BUDGET_ENV):
        budget = _BUDGETS[os.environ[BUDGET_ENV]]
    budget = budget or (QUICK if quick else FULL)
    out_dir = Path(out) if out is not None else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    load_at_start = load_average()
    sections = run_sections(chosen, budget)
    if plots:
        from benchmarks.plots import render_plots

        render_plots(sections, out_dir / "img")
    machine = collect_machine({"load average at the start (1/5/15 min)": load_at_start})
    text = render(sections, machine, budget, command=command, seconds=time.monotonic() - start)
    (out_dir / "report.md").write_text(text)
    write_results(out_dir / "results.json", sections, machine, budget)
    for section in sections:
        for target in section.targets:
            print(
                f"{target.status:4}  {target.name}: {target.measured or float('nan'):.2f}x "
                f"(limit {target.limit:.2f}x)"
            )
    print(f"report: {out_dir / 'report.md'}")
    return 1 if any(s.error for s in sections) else 0
