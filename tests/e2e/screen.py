"""What every benchmark's test checks of the standing screen (scripts/bench_screen.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_screen


def assert_screen_reads_every_figure(script: str, report: dict[str, Any]) -> None:
    """Every figure the screen takes from `script`'s report is there and judged."""
    [benchmark] = [b for b in bench_screen.BENCHMARKS if b.script == script]
    for figure in benchmark.figures:
        row = bench_screen.judge(figure, report, frozenset())
        assert row.value != "-", (figure.path, row.note)
        assert row.verdict in ("PASS", "FAIL", "-"), figure.path
