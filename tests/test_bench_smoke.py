"""Smoke tests of the benchmark suite: it runs, and its report has the promised structure.

Nothing here asserts on speed: a benchmark's numbers belong in its report, not in a test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from benchmarks import BUDGET_ENV
from benchmarks.fixtures import make_tokens
from benchmarks.harness import SMOKE, Case, Progress, calibrate, measure
from benchmarks.http import ONE_CLIENT, _locality_notes, base_config
from benchmarks.instructions import Counts, callgrind_totals, count_instructions
from benchmarks.instructions import unavailable as unavailable_tools
from benchmarks.report import Target
from benchmarks.server import Endpoint, parse_wrk

from gatepass.cli import main
from gatepass.cli.bench import SECTIONS, find_benchmarks
from gatepass.errors import ConfigurationError
from tests.servers import unavailable

WRK_OUTPUT = """Running 4s test @ http://127.0.0.1:40001
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  300.00us   9.10ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.30ms
  120000 requests in 4.00s, 16.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  30000.00
"""


@pytest.mark.timeout(180)
def test_quick_verify_run_writes_a_report_with_tables_and_ratios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gatepass bench --quick --only verify` writes a report with its tables and targets.

    Eight targets: cold verify vs the floor per algorithm, timed and counted by callgrind.
    """
    reason = unavailable_tools()
    if reason is not None:
        unavailable(reason)
    monkeypatch.setenv(BUDGET_ENV, "smoke")  # every code path of the section, tiny loops
    exit_code = main(["bench", "--quick", "--only", "verify", "--out", str(tmp_path)])

    assert 0 == exit_code
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Targets", "## Machine", "## 1. Access-token verification"):
        assert heading in report
    assert "| verifier | EdDSA | ES256 | RS256 | HS256 |" in report
    results = json.loads((tmp_path / "results.json").read_text())
    targets = results["sections"]["verify"]["targets"]
    assert 8 == len(targets)
    assert 4 == sum("instructions (callgrind)" in target["name"] for target in targets)
    assert "Instructions per verify, counted by callgrind" in report
    for target in targets:
        assert target["measured"] > 0
        assert target["status"] in ("PASS", "MISS")
        assert f"**{target['status']}**" in report
    assert (tmp_path / "img" / "bench-verify.png").stat().st_size > 0


def test_measure_interleaves_repeats_and_keeps_one_sample_per_repeat() -> None:
    """Every case runs once per repeat, and its median lies between its min and max."""
    calls: list[str] = []

    def case(name: str) -> Case:
        return Case(name, lambda n: calls.extend([name] * n))

    timings = measure([case("a"), case("b")], SMOKE.scaled(repeats=3, target=1e-4), seed=1)

    assert {"a", "b"} == set(timings)
    for timing in timings.values():
        assert 3 == len(timing.samples)
        assert timing.min_us <= timing.median_us <= timing.max_us
    assert {"a", "b"} == set(calls)


def test_calibrate_gives_one_iteration_to_an_operation_slower_than_the_target() -> None:
    """A single operation longer than the target is timed once per repeat."""
    assert 1 == calibrate(lambda n: time.sleep(0.004 * n), 0.001)


def test_progress_bar_reaches_the_total(tmp_path: Path) -> None:
    """The progress bar counts its steps and ends at 100 %."""
    path = tmp_path / "progress.txt"
    with path.open("w") as stream:
        progress = Progress("smoke", 4, stream=stream)
        progress.advance(note="one")
        progress.close()
    assert progress.total == progress.done
    assert "100%" in path.read_text()


def test_wrk_output_is_parsed_into_requests_latencies_and_errors() -> None:
    """Requests, duration, p50/p99 in ms and non-2xx answers are read from wrk's output."""
    found = parse_wrk(WRK_OUTPUT)

    assert 120000 == found["requests"]
    assert 4.0 == found["seconds"]
    assert 0.85 == pytest.approx(found["p50"])
    assert 2.3 == pytest.approx(found["p99"])
    assert 3 == found["non_2xx"]


def test_target_status_is_pass_at_or_below_the_limit_miss_above_na_when_unmeasured() -> None:
    """A target passes at or below its limit, misses above it, and is n/a without a value."""
    assert "PASS" == Target("t", 1.1, 1.1).status
    assert "MISS" == Target("t", 1.1, 1.11).status
    assert "n/a" == Target("t", 1.1, None).status


def test_bench_without_a_source_checkout_fails_with_a_clear_message(tmp_path: Path) -> None:
    """Looking for the suite where there is no benchmarks/ package is a configuration error."""
    with pytest.raises(ConfigurationError, match="source checkout"):
        find_benchmarks(tmp_path)


def test_unknown_section_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`--only` accepts only the suite's sections; anything else exits with code 2."""
    with pytest.raises(SystemExit) as raised:
        main(["bench", "--only", "verify,nosuch"])

    assert 2 == raised.value.code
    assert "nosuch" in capsys.readouterr().err
    assert ("verify", "sessions", "http", "storm", "growth") == SECTIONS


def test_one_client_notes_state_both_ratios_with_their_spreads() -> None:
    """Each one-client pair's note gives both CPU ratios, their spreads and, when counted,
    both instruction ratios; a pair missing from the run gets no note."""
    rotating, single = next(iter(ONE_CLIENT.items()))
    summary = {
        rotating: {"cpu_ratio": 1.15, "cpu_spread": 0.21},
        single: {"cpu_ratio": 1.08, "cpu_spread": 0.04},
    }
    [note] = _locality_notes(summary, "callgrind not found")
    assert "1.15x rotating over the clients (spread 21%), 1.08x with one client" in note
    assert "(spread 4%)" in note
    assert "instructions" not in note.split(". ")[0]
    counts = Counts({"open (no auth)": 190e3, rotating: 207e3, single: 206e3}, 200)
    [counted] = _locality_notes(summary, counts)
    assert "in instructions 1.09x and 1.08x" in counted
    assert [] == _locality_notes({rotating: summary[rotating]}, counts)


def test_callgrind_totals_are_read_from_a_dump() -> None:
    """The instruction total comes from a dump's totals line (or summary line)."""
    assert 12345 == callgrind_totals("events: Ir\nfl=x\n0 5\ntotals: 12345\n")
    assert 7 == callgrind_totals("summary: 7\n")
    with pytest.raises(ValueError, match="totals"):
        callgrind_totals("events: Ir\n")


@pytest.mark.timeout(300)
def test_instruction_counts_attribute_each_endpoints_own_work() -> None:
    """The app under callgrind: every endpoint gets a count, and a protected route (a JWT
    cache hit, about 8 % more than an open request) executes more instructions per
    request than the open one. (The middleware alone, about 1.5 %, is within the noise of
    so few requests.)"""
    reason = unavailable_tools()
    if reason is not None:
        unavailable(reason)
    fx = make_tokens()
    config = base_config(fx)
    bearer = {"Authorization": f"Bearer {fx.tokens['EdDSA']}"}
    endpoints = [
        Endpoint("open (no auth)", "/open", [bearer], "baseline"),
        Endpoint("gatepass JWT EdDSA (cache hit)", "/mem/me", [bearer], "gatepass JWT"),
    ]
    # The warm-up outlasts CPython's specialization of the code (the first requests of a
    # route run more instructions than later ones).
    counts = count_instructions(config, endpoints, requests=50, warmup=60)
    assert 50 == counts.requests
    assert [e.name for e in endpoints] == list(counts.per_request)
    assert 0 < counts.per_request["open (no auth)"] < counts.per_request[endpoints[1].name]
