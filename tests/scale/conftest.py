"""The scale-out report: tables the tests measure, printed at the end of the run.

Tests add tables through the ``scale_report`` fixture; each table is written as JSON to
``<pytest base temp>/scale-report.json`` as soon as it is added, and every table is
printed in the terminal summary (performance is reported there, never asserted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_REPORT = pytest.StashKey["ScaleReport"]()


@dataclass
class ScaleReport:
    """Named tables of measurements (rows of column -> value)."""

    path: Path
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, title: str, rows: list[dict[str, Any]], note: str = "") -> None:
        """Add (or extend) a table and rewrite the JSON file."""
        self.tables.setdefault(title, []).extend(rows)
        if note:
            self.notes[title] = note
        payload = {"tables": self.tables, "notes": self.notes}
        self.path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def render(self) -> list[str]:
        """The tables as aligned text lines."""
        lines: list[str] = []
        for title, rows in self.tables.items():
            if not rows:
                continue
            columns = list(rows[0])
            cells = [[_cell(row.get(c)) for c in columns] for row in rows]
            widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
            lines.append(title)
            lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
            lines.extend(
                "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
            )
            if title in self.notes:
                lines.append(self.notes[title])
            lines.append("")
        if lines:
            lines.append(f"(written to {self.path})")
        return lines


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


@pytest.fixture(scope="session")
def scale_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ScaleReport:
    """The run's :class:`ScaleReport` (created on first use)."""
    config = request.config
    if _REPORT not in config.stash:
        path = tmp_path_factory.getbasetemp() / "scale-report.json"
        config.stash[_REPORT] = ScaleReport(path)
    return config.stash[_REPORT]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the measured tables after the test results."""
    report = config.stash.get(_REPORT, None)
    if report is None or not report.tables:
        return
    terminalreporter.section("gatepass scale-out measurements")
    for line in report.render():
        terminalreporter.write_line(line)
