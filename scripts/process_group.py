"""The processes a script starts: each one of ours, stdout piped, all reaped on the way out.

Shared by scripts/demo.py and the benchmarks.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Every process started inside is terminated (then killed) on the way out."""
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def spawn(started: list[subprocess.Popen[str]], *argv: str) -> subprocess.Popen[str]:
    """Start a Python module or script of ours, its stdout piped."""
    process = subprocess.Popen(
        [sys.executable, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.PIPE,
        text=True,
    )
    started.append(process)
    return process
