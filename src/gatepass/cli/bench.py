"""``gatepass bench``: run the benchmark suite of a source checkout.

The suite lives in the ``benchmarks`` package at the repository root (the parent of
``src/``); it is not part of the wheel. This command finds it there, imports it and runs
the sections asked for, writing ``report.md``, ``results.json`` and PNG plots.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Final

from gatepass.cli._common import EXIT_FAILURE, Subparsers
from gatepass.errors import ConfigurationError

__all__ = ["SECTIONS", "find_benchmarks", "register"]

#: The sections of the suite, in the order they run.
SECTIONS: Final = ("verify", "sessions", "http", "storm", "growth")


def register(subparsers: Subparsers) -> None:
    """Add ``gatepass bench``."""
    parser = subparsers.add_parser(
        "bench",
        help="run the benchmark suite (from a source checkout)",
        description=(
            "Measure gatepass against the anchors (PyJWT, joserfc, starsessions, a "
            "hand-written floor) side by side in one run: token verification, session "
            "lookups per store, HTTP through uvicorn, a login storm, cost growth. Writes a "
            "markdown report with tables, targets (PASS/MISS) and plots. Needs the "
            "benchmarks/ package of a source checkout and the 'bench' extra; loopback only."
        ),
        epilog="Exit codes: 0 done, 1 a section failed (see the report), 2 bad usage.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run (about a minute or two): smaller sizes"
    )
    parser.add_argument(
        "--only",
        metavar="LIST",
        type=_sections,
        help=f"comma-separated sections to run (default: all): {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where to write report.md, results.json and img/ (default: benchmarks/out)",
    )
    parser.set_defaults(func=_bench)


def _sections(text: str) -> tuple[str, ...]:
    """An argparse type: a comma-separated subset of :data:`SECTIONS`."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in SECTIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or text!r}; choose from {','.join(SECTIONS)}"
        )
    return names


def find_benchmarks(root: Path | None = None) -> Path:
    """The repository root holding the ``benchmarks`` package.

    Args:
        root: where to look; by default the parent of ``src/`` above this module.

    Raises:
        ConfigurationError: there is no ``benchmarks/__init__.py`` there (an installed
            wheel has no benchmarks).
    """
    if root is None:
        root = Path(__file__).resolve().parents[3]
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise ConfigurationError(
            f"gatepass bench needs the benchmarks/ package of a source checkout, and there "
            f"is none at {root} (it is not installed with the wheel); run it from a clone of "
            "the repository, e.g. `make bench`"
        )
    return root


def _bench(args: argparse.Namespace) -> int:
    root = find_benchmarks()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        suite = importlib.import_module("benchmarks")
    except ImportError as exc:
        raise ConfigurationError(
            f"the benchmarks need the 'bench' extra ({exc}); "
            "install it with: pip install -e '.[bench]'"
        ) from exc
    location = Path(str(getattr(suite, "__file__", ""))).resolve()
    if root not in location.parents:
        raise ConfigurationError(f"another 'benchmarks' package shadows the suite: {location}")
    result = suite.main(quick=args.quick, only=args.only, out=args.out, command=_command(args))
    return int(result) if isinstance(result, int) else EXIT_FAILURE


def _command(args: argparse.Namespace) -> str:
    parts = ["gatepass bench"]
    if args.quick:
        parts.append("--quick")
    if args.only:
        parts.append("--only " + ",".join(args.only))
    return " ".join(parts)
