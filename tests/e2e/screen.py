"""What the benchmarks' tests share: one run of a script for its report, and the check
that the standing screen (scripts/bench_screen.py) finds every figure in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_screen  # noqa: E402


def assert_screen_reads_every_figure(script: str, report: dict[str, Any]) -> None:
    """Every figure the screen takes from `script`'s report is there and judged."""
    [benchmark] = [b for b in bench_screen.BENCHMARKS if b.script == script]
    for figure in benchmark.figures:
        row = bench_screen.judge(figure, report, frozenset())
        assert row.value != "-", (figure.path, row.note)
        assert row.verdict in ("PASS", "FAIL", "-"), figure.path


def run_for_report(
    script: str, options: list[str], report: Path, timeout_s: float
) -> tuple[str, dict[str, Any]]:
    """Run `script` with `options` and --json `report`: its stdout and the report."""
    result = subprocess.run(
        [sys.executable, script, *options, "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads(report.read_text())
