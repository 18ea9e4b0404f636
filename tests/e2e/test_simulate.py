"""A small simulation runs inside the suite and its report keeps its promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from peer.simulation.report import DISTRIBUTION_KEYS, REPORT_SCHEMA
from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]
SIMULATION_TIMEOUT_S = 180  # a 10 s simulation: startup, churn and reaping on a busy machine


@pytest.mark.timeout(SIMULATION_TIMEOUT_S + 60)
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
        timeout=SIMULATION_TIMEOUT_S,
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


def children_of(pid: int) -> list[int]:
    """Direct child processes of `pid`."""
    return [child.pid for child in psutil.Process(pid).children()]


def test_ctrl_c_stops_every_process_of_a_simulation() -> None:
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "scripts/simulate.py", "--viewers", "6", "--duration", "60",
         "--source", "testsrc:160x120@15"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline and len(children) < 4:  # tracker, source, 2 workers
            children = children_of(process.pid)
            time.sleep(0.1)  # polling the process table, with the deadline above
        assert len(children) >= 4, children
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        assert not [pid for pid in children if alive(pid)], "a process was left behind"
    finally:
        process.kill()
        process.wait()
