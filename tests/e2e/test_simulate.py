"""A small simulation runs inside the suite and its report keeps its promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from peer.simulation.report import DISTRIBUTION_KEYS, REPORT_SCHEMA
from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]
SIMULATION_TIMEOUT_S = 180  # a 10 s simulation: startup, churn and reaping on a busy machine
DISTRIBUTIONS = (
    "continuity", "true_latency_ms", "join_ms", "join_to_picture_ms", "recovery_ms", "per_hop_ms",
)  # fmt: skip


def simulate(tmp_path: Path, *options: str) -> tuple[str, dict[str, Any]]:
    """Run scripts/simulate.py on two worker processes with `options`: (what it printed,
    its JSON report)."""
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable, "scripts/simulate.py", "--processes", "2",
            "--source", "testsrc:320x240@30", "--json", str(report_path), *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SIMULATION_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    return result.stdout, report


@pytest.mark.timeout(SIMULATION_TIMEOUT_S + 60)
def test_twenty_viewers_with_churn_and_two_killed_relays(tmp_path: Path) -> None:
    printed, report = simulate(
        tmp_path, "--viewers", "20", "--duration", "10", "--churn", "0.6", "--kill-relays", "2"
    )

    for key, kind in REPORT_SCHEMA.items():
        assert isinstance(report[key], kind), key
    for key in DISTRIBUTIONS:
        assert set(report[key]) == set(DISTRIBUTION_KEYS), key
    assert report["settings"]["codec"] == "jpeg"
    assert report["decoding_viewers"] >= 2, "5% of each worker's viewers, the first included"
    assert report["join_to_picture_ms"]["count"] >= 1
    assert report["frames_undecodable"] == 0, "every JPEG frame stands alone"

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
    assert "continuity index" in printed


@pytest.mark.timeout(SIMULATION_TIMEOUT_S + 60)
def test_h264_viewers_that_decode_show_a_picture_soon_after_joining(tmp_path: Path) -> None:
    printed, report = simulate(
        tmp_path, "--viewers", "12", "--duration", "6", "--codec", "h264", "--keyint", "4",
        "--decode", "0.5",
    )  # fmt: skip

    for key, kind in REPORT_SCHEMA.items():
        assert isinstance(report[key], kind), key
    viewers = report["viewers"]
    assert {viewer["codec"] for viewer in viewers} == {"h264"}
    decoders = [viewer for viewer in viewers if viewer["decode"]]
    assert len(decoders) == report["decoding_viewers"] == 6, "every second viewer of each worker"
    # Joining mid-GOP (4 s between keyframes), each shows a picture: the relay replays the
    # frames since the keyframe. No bound on the wait: the suite's machine may be busy.
    for viewer in decoders:
        assert viewer["picture_ms"] is not None, viewer["name"]
        assert viewer["picture_ms"] >= viewer["join_ms"], "a picture comes from a frame"
    assert not [viewer for viewer in viewers if not viewer["decode"] and viewer["picture_ms"]]
    assert report["join_to_picture_ms"]["count"] == 6
    assert report["frames_undecodable"] == sum(v["frames_undecodable"] for v in viewers)
    assert report["tree"]["attached"] == 12
    assert "join to first picture (ms)" in printed
    assert "codec h264: 6 viewers decoding, 6 showed a picture" in printed
    assert not [pid for pid in report["pids"] if alive(pid)], "a process was left behind"


def test_h264_options_need_the_h264_codec() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/simulate.py", "--bitrate", "800"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--bitrate needs --codec h264" in result.stderr


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
