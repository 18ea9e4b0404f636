"""A small simulation runs inside the suite and its report keeps its promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from peer.simulation.report import DISTRIBUTION_KEYS, REPORT_SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is reaped if its state is Z and its parent waits.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_twenty_viewers_with_churn_and_two_killed_relays(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable, "scripts/simulate.py", "--viewers", "20", "--duration", "10",
            "--churn", "0.6", "--kill-relays", "2", "--processes", "2",
            "--source", "testsrc:320x240@30", "--json", str(report_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(report_path.read_text())

    for key, kind in REPORT_SCHEMA.items():
        assert isinstance(report[key], kind), key
    for key in ("continuity", "true_latency_ms", "join_ms", "recovery_ms", "per_hop_ms"):
        assert set(report[key]) == set(DISTRIBUTION_KEYS), key

    tree = report["tree"]
    assert tree["attached"] == tree["viewers_at_end"] >= 15, "every viewer attached"
    assert report["continuity"]["p50"] >= 0.95
    assert report["continuity"]["p5"] >= 0.9
    assert any(e["kind"] in ("leave", "kill") for e in report["events"]), "churn happened"
    assert len(report["killed_relays"]) == 2
    for killed in report["killed_relays"]:
        assert killed["children"], "the victims were relays"
        assert sorted(killed["recovered"]) == sorted(killed["children"])
    assert report["source"]["egress_streams"] <= 3.5
    assert not [pid for pid in report["pids"] if alive(pid)], "a process was left behind"
    assert "continuity index" in result.stdout
