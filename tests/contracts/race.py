"""Release several OS processes at the same moment and collect what each printed.

Each child prints ``ready`` once it is set up, waits for a line on stdin, does its one
racing operation and prints the outcome; the parent releases them all together.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def release_together(argvs: Sequence[Sequence[str]], *, timeout: float = 20) -> list[str]:
    """Start one process per argv, release them at once, return their outputs in order."""
    procs = [
        subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert "ready" == proc.stdout.readline().strip(), proc.stderr
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert 0 == proc.returncode, err
            outcomes.append(out.strip())
        return outcomes
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
