"""PNG plots of the sections' data (matplotlib, Agg backend); skipped if it is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.report import Section

__all__ = ["render_plots"]

_DPI = 80
_SIZE = (7.5, 3.6)


def render_plots(sections: list[Section], directory: Path) -> list[Path]:
    """Draw every plot the sections' data allows; attach them to the sections."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots", file=sys.stderr)
        return []
    directory.mkdir(parents=True, exist_ok=True)
    drawn: list[Path] = []
    painters = {
        "verify": _verify,
        "sessions": _sessions,
        "http": _http,
        "storm": _storm,
        "growth": _growth,
    }
    for section in sections:
        painter = painters.get(section.key)
        if painter is None or section.error or not section.data:
            continue
        try:
            caption = painter(plt, section.data)
        except (KeyError, ValueError, ZeroDivisionError) as exc:
            print(f"plot {section.key} skipped: {exc!r}", file=sys.stderr)
            plt.close("all")
            continue
        path = directory / f"bench-{section.key}.png"
        plt.tight_layout()
        plt.savefig(path, dpi=_DPI)
        plt.close("all")
        section.plots.append((path.name, caption))
        drawn.append(path)
    return drawn


def _verify(plt: Any, data: dict[str, Any]) -> str:
    timings = data["timings"]
    algs = ["EdDSA", "ES256", "RS256", "HS256"]
    names = ["prim", "floor", "gatepass cold", "gatepass cached", "PyJWT", "joserfc"]
    names = [n for n in names if f"EdDSA|{n}" in timings]
    _, ax = plt.subplots(figsize=_SIZE)
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = [timings[f"{alg}|{name}"]["median_us"] for alg in algs]
        ax.bar([i + k * width for i in range(len(algs))], values, width, label=name)
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(algs))], algs)
    ax.set_yscale("log")
    ax.set_ylabel("µs per verify (log)")
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("Access-token verify, median µs/op")
    return "verify time per algorithm and verifier (log scale)"


def _sessions(plt: Any, data: dict[str, Any]) -> str:
    timings = data["timings"]
    sizes = data["sqlite_sizes"]
    _, ax = plt.subplots(figsize=_SIZE)
    for what, style in (
        ("SessionManager.load", "o-"),
        ("store.get_session", "s--"),
        ("sqlite3 PK SELECT (floor)", "^:"),
    ):
        values = [timings[f"SQLite, {s:,} sessions|{what}"]["median_us"] for s in sizes]
        ax.plot(sizes, values, style, label=f"SQLite {what}")
    memory = [k for k in timings if k.startswith("memory") and k.endswith("SessionManager.load")]
    if memory:
        ax.axhline(timings[memory[0]]["median_us"], color="grey", ls="-.", label="memory load")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("sessions in the table")
    ax.set_ylabel("µs per lookup")
    ax.legend(fontsize=7)
    ax.set_title("Session lookup vs table size")
    return "SQLite session lookup vs table size"


def _http(plt: Any, data: dict[str, Any]) -> str:
    summary = data["summary"]
    names = list(summary)
    cpu = [summary[n]["cpu_us"] for n in names]
    colors = {"baseline": "grey", "gatepass": "tab:blue", "gatepass JWT": "tab:blue",
              "session": "tab:green", "anchor": "tab:red"}  # fmt: skip
    groups = data.get("groups", {})
    _, ax = plt.subplots(figsize=(7.5, 0.3 * len(names) + 1.2))
    ax.barh(names, cpu, color=[colors.get(groups.get(n, ""), "tab:blue") for n in names])
    open_cpu = cpu[0]
    ax.axvline(open_cpu, color="black", lw=1)
    ax.axvline(open_cpu * 1.10, color="black", lw=1, ls="--", label="1.10x open (target)")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("server CPU µs per request (median of rounds)")
    ax.legend(fontsize=7)
    ax.set_title("HTTP: server CPU per request")
    return "server CPU per request per endpoint (blue: gatepass, green: sessions, red: anchors)"


def _storm(plt: Any, data: dict[str, Any]) -> str:
    summary = data["summary"]
    conditions = [c for c in data.get("conditions", ["idle", "storm"]) if f"{c}|c32" in summary]
    loads = ["c32", "c4"]
    _, ax = plt.subplots(figsize=_SIZE)
    width = 0.8 / len(conditions)
    for k, condition in enumerate(conditions):
        values = [summary[f"{condition}|{load}"]["p99_ms"] for load in loads]
        ax.bar([i + k * width for i in range(len(loads))], values, width, label=condition)
    middle = width * (len(conditions) - 1) / 2
    ax.set_xticks([i + middle for i in range(len(loads))], [f"wrk -{x}" for x in loads])
    ax.set_ylabel("protected request p99, ms")
    ax.legend(fontsize=7)
    ax.set_title("Login storm: protected-request p99")
    return "protected-request p99, idle vs login storm"


def _growth(plt: Any, data: dict[str, Any]) -> str:
    timings = data["timings"]
    fig, (left, right) = plt.subplots(1, 2, figsize=_SIZE)
    sizes = sorted(  # each size's row (not the largest size's many-ids case)
        int(k.split("|")[0])
        for k in timings
        if k.endswith("(memory)") and k.split("|")[0].isdigit()
    )
    left.plot(
        sizes, [timings[f"{s}|SessionManager.load (memory)"]["median_us"] for s in sizes], "o-"
    )
    left.set_xscale("log")
    left.set_ylim(bottom=0)
    left.set_xlabel("sessions (memory store)")
    left.set_ylabel("µs per load")
    rsizes = sorted(int(k.split("|")[0]) for k in timings if k.endswith("is_revoked"))
    for what in ("RevocationSet.is_revoked", "authenticate (JWT cache hit)"):
        right.plot(rsizes, [timings[f"{s}|{what}"]["median_us"] for s in rsizes], "o-", label=what)
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_ylabel("µs per check")
    right.set_xlabel("revoked jtis")
    right.legend(fontsize=7)
    fig.suptitle("Cost growth")
    return "lookup cost vs number of sessions and of revoked jtis"
