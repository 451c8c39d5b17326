"""Run the real ``gatepass`` command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["clean_env", "run_cli", "run_cli_bytes"]

#: Generous bound so a hung command fails the test instead of hanging the run.
TIMEOUT = 60


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without ``GATEPASS_*`` and proxy variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEPASS_") and not k.lower().endswith("_proxy")
    }
    env.update(extra)
    return env


def run_cli(
    *args: str,
    stdin: str = "",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gatepass ARGS`` with text stdin; capture stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "gatepass", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        timeout=TIMEOUT,
        check=False,
    )


def run_cli_bytes(
    *args: str, stdin: bytes, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m gatepass ARGS`` with binary stdin; capture stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "gatepass", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=clean_env(),
        timeout=TIMEOUT,
        check=False,
    )
