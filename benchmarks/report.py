"""What a section returns (tables, targets, notes, raw data) and the markdown report."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import Budget, fmt_ratio

__all__ = [
    "PACKAGES",
    "Machine",
    "Section",
    "Table",
    "Target",
    "collect_machine",
    "load_average",
    "render",
    "write_results",
]

#: Packages whose versions the report lists.
PACKAGES = (
    "gatepass",
    "cryptography",
    "argon2-cffi",
    "PyJWT",
    "joserfc",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "anyio",
    "redis",
    "hiredis",
    "asyncpg",
    "starsessions",
    "matplotlib",
)


@dataclass
class Table:
    """A markdown table."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""

    def markdown(self) -> str:
        """The table as GitHub markdown."""
        lines = [f"**{self.title}**", ""] if self.title else []
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)


@dataclass
class Target:
    """One target of the issue: a ratio that must stay at or below ``limit``."""

    name: str
    limit: float
    measured: float | None
    detail: str = ""

    @property
    def status(self) -> str:
        """PASS, MISS, or n/a when it could not be measured."""
        if self.measured is None or self.measured != self.measured:
            return "n/a"
        return "PASS" if self.measured <= self.limit else "MISS"

    def row(self) -> list[str]:
        """A row of the targets table."""
        return [
            self.name,
            f"<= {self.limit:.2f}x",
            fmt_ratio(self.measured),
            f"**{self.status}**",
            self.detail,
        ]


@dataclass
class Section:
    """The outcome of one benchmark section."""

    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Machine:
    """Where the run happened."""

    facts: dict[str, str]
    versions: dict[str, str]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _wrk_version() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "not installed (Python load generator used)"
    try:
        done = subprocess.run(  # noqa: S603 - the wrk found on PATH, no shell
            [wrk, "-v"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (how busy the shared machine was)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def collect_machine(extra: dict[str, str] | None = None) -> Machine:
    """nproc, CPU model, memory, OS, Python, servers, and the package versions."""
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "memory": _memory(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "SQLite": sqlite3.sqlite_version,
        "wrk": _wrk_version(),
        "load average at the end (1/5/15 min)": load_average(),
    }
    facts.update(extra or {})
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return Machine(facts, versions)


def _targets_table(sections: list[Section]) -> str:
    targets = [t for s in sections for t in s.targets]
    if not targets:
        return "_No target was measured in this run._"
    table = Table(
        "",
        ["target", "limit", "measured", "result", "what was compared"],
        [t.row() for t in targets],
    )
    passed = sum(t.status == "PASS" for t in targets)
    missed = sum(t.status == "MISS" for t in targets)
    return (
        f"{table.markdown()}\n\n{passed} PASS, {missed} MISS, {len(targets) - passed - missed} n/a."
    )


def render(
    sections: list[Section],
    machine: Machine,
    budget: Budget,
    *,
    command: str,
    seconds: float,
    image_dir: str = "img",
) -> str:
    """The whole report as markdown."""
    out: list[str] = [
        "# gatepass benchmarks",
        "",
        f"Generated by `{command}` ({budget.name} budget) in {seconds / 60:.1f} min. Every "
        "comparison below was measured side by side in this one run: micro-benchmarks are "
        "medians of interleaved, shuffled repeats (each repeat calibrated to about "
        f"{budget.target * 1000:.0f} ms, {budget.repeats} repeats); HTTP numbers are the "
        f"median of {budget.http_rounds} interleaved rounds. Loopback only. Compare ratios, "
        "not absolute times: the machine is shared and noisy.",
        "",
        "## Targets",
        "",
        _targets_table(sections),
        "",
        "## Machine",
        "",
        "| fact | value |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in machine.facts.items()]
    out += ["", "| package | version |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in machine.versions.items()]
    for section in sections:
        out += ["", f"## {section.title}", ""]
        if section.error:
            out += [f"**This section failed:** `{section.error}`", ""]
        if section.intro:
            out += [section.intro, ""]
        for table in section.tables:
            out += [table.markdown(), ""]
        if section.targets:
            out += [
                Table(
                    "Targets of this section",
                    ["target", "limit", "measured", "result", "what was compared"],
                    [t.row() for t in section.targets],
                ).markdown(),
                "",
            ]
        for name, caption in section.plots:
            out += [f"![{caption}]({image_dir}/{name})", ""]
        if section.notes:
            out += ["Notes:", ""] + [f"- {note}" for note in section.notes] + [""]
        out += [f"_Section time: {section.seconds:.0f} s._"]
    return "\n".join(out) + "\n"


def write_results(path: Path, sections: list[Section], machine: Machine, budget: Budget) -> None:
    """Dump the raw data of every section as JSON (for later comparison)."""
    doc = {
        "budget": budget.name,
        "machine": {"facts": machine.facts, "versions": machine.versions},
        "sections": {
            s.key: {
                "data": s.data,
                "targets": [
                    {"name": t.name, "limit": t.limit, "measured": t.measured, "status": t.status}
                    for t in s.targets
                ],
                "error": s.error,
                "seconds": s.seconds,
            }
            for s in sections
        },
    }
    path.write_text(json.dumps(doc, indent=1, default=str))
