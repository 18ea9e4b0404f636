"""scripts/bench_compare.py at a tiny scale: every system streams, reports, and cleans up.

Correctness only: three viewers for three seconds on whatever machine runs the suite, so
no timing is asserted, only that each system delivers, the report has every documented
key, and no process the benchmark started outlives it. Once with JPEG (every system),
once with H.264 (StreamNest and imagezmq), whose looping workload must stay decodable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from peer.h264 import H264Decoder
from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from baselines.workload import FRAME_COUNT, encode_frames, gop_frames  # noqa: E402

# The star baseline runs on the `bench` extra; without it there is nothing to compare.
pytest.importorskip("imagezmq", reason="the `bench` extra (imagezmq) is not installed")
pytest.importorskip("zmq", reason="the `bench` extra (pyzmq) is not installed")

SYSTEMS = ("streamnest", "imagezmq", "seed")
VIEWERS = 3
RUN_TIMEOUT_S = 120
# The first test also runs the benchmark (the module's fixture): room for it and more.
pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 60)
METRIC_KEYS = {
    "viewers", "frames_sent", "frames_delivered", "source_cpu_pct",
    "source_egress_bytes_per_s", "source_egress_mb_per_s", "source_egress_streams",
    "delivered_ratio", "latency_p50_ms", "latency_p99_ms", "total_cpu_pct",
    "cpu_pct_by_role", "source_pids", "pids",
}  # fmt: skip
RATIO_KEYS = {
    "source_cpu_pct", "source_egress_mb_per_s", "source_egress_streams", "delivered_ratio",
    "latency_p50_ms", "latency_p99_ms", "total_cpu_pct",
}  # fmt: skip


def run_benchmark(tmp: Path, *options: str) -> tuple[str, dict[str, Any]]:
    """Run the benchmark with three viewers for three seconds: its stdout and JSON report."""
    report = tmp / "out.json"
    result = subprocess.run(
        [
            sys.executable, "scripts/bench_compare.py", "--viewers", str(VIEWERS),
            "--seconds", "3", "--json", str(report), *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads(report.read_text())


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """Run the benchmark once for this module (JPEG, every system)."""
    return run_benchmark(tmp_path_factory.mktemp("bench_compare"))


@pytest.fixture(scope="module")
def h264_comparison(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """Run it once more with H.264, StreamNest against imagezmq."""
    tmp = tmp_path_factory.mktemp("bench_compare_h264")
    return run_benchmark(tmp, "--codec", "h264", "--systems", "streamnest,imagezmq")


def test_every_system_runs_once_with_every_documented_metric(
    comparison: tuple[str, dict[str, Any]],
) -> None:
    _, report = comparison
    [run] = report["runs"]
    assert run["viewers"] == VIEWERS
    assert set(run["systems"]) == set(SYSTEMS)
    for system, metrics in run["systems"].items():
        assert "error" not in metrics, f"{system}: {metrics.get('error')}"
        assert set(metrics) >= METRIC_KEYS, f"{system} misses {METRIC_KEYS - set(metrics)}"
        assert metrics["viewers"] == VIEWERS
    assert set(run["ratios"]) == {"imagezmq", "seed"}
    for other, ratios in run["ratios"].items():
        assert set(ratios) == RATIO_KEYS, other
    assert report["targets"] == [], "targets are only checked with 100 viewers"


def test_every_system_delivers_most_frames_to_every_viewer(
    comparison: tuple[str, dict[str, Any]],
) -> None:
    _, report = comparison
    for system, metrics in report["runs"][0]["systems"].items():
        assert metrics["frames_sent"] > 0, system
        assert metrics["delivered_ratio"] > 0.5, system
        assert metrics["latency_p50_ms"] > 0, system
        assert metrics["latency_p99_ms"] >= metrics["latency_p50_ms"], system


def test_the_source_sides_send_what_their_designs_say(
    comparison: tuple[str, dict[str, Any]],
) -> None:
    _, report = comparison
    systems = report["runs"][0]["systems"]
    # Every star sends a copy to each viewer; StreamNest's source to at most 3 children.
    assert systems["streamnest"]["source_egress_streams"] == pytest.approx(3, rel=0.2)
    assert systems["imagezmq"]["source_egress_streams"] == pytest.approx(VIEWERS, rel=0.2)
    # The seed's streamer uploads once to its server, which sends to each viewer; base64
    # makes every copy 4/3 as large.
    seed = systems["seed"]
    assert seed["source_egress_streams"] == pytest.approx((VIEWERS + 1) * 4 / 3, rel=0.2)
    assert len(seed["source_pids"]) == 2


def test_the_table_prints_each_metric_and_the_streamnest_ratios(
    comparison: tuple[str, dict[str, Any]],
) -> None:
    stdout, _ = comparison
    assert f"== {VIEWERS} viewers" in stdout
    for label in ("source CPU %", "source egress MB/s", "delivered frames", "total CPU %"):
        assert label in stdout
    assert "sn/imagezmq" in stdout and "sn/seed" in stdout


def test_no_process_the_benchmark_started_is_left_behind(
    comparison: tuple[str, dict[str, Any]],
) -> None:
    _, report = comparison
    pids = report["pids"]
    # A tracker, a source and 2 viewer workers; a publisher and 2; a server, a streamer and 2.
    assert len(pids) == 4 + 3 + 4
    for metrics in report["runs"][0]["systems"].values():
        assert set(metrics["pids"]) <= set(pids)
    assert not [pid for pid in pids if alive(pid)], "a benchmark process outlived the run"


def test_h264_streams_through_streamnest_and_the_star_carries_the_same_units(
    h264_comparison: tuple[str, dict[str, Any]],
) -> None:
    stdout, report = h264_comparison
    config = report["config"]
    assert config["codec"] == "h264"
    assert config["frames"] % config["h264_keyint_frames"] == 0, "whole GOPs: it loops"
    assert config["keyframes"] >= config["frames"] // config["h264_keyint_frames"]
    assert "the stars relay the same units as opaque bytes" in stdout
    [run] = report["runs"]
    systems = run["systems"]
    assert set(systems) == {"streamnest", "imagezmq"}
    for system, metrics in systems.items():
        assert "error" not in metrics, f"{system}: {metrics.get('error')}"
        assert set(metrics) >= METRIC_KEYS, system
        assert metrics["delivered_ratio"] > 0.5, system
    assert systems["streamnest"]["codecs_received"] == ["h264"]
    assert systems["imagezmq"]["source_egress_streams"] == pytest.approx(VIEWERS, rel=0.2)
    # Three children, each frame with its 297-byte head and signature on top (a large
    # share of the test pattern's small H.264 units): about 4.7 streams of bare units.
    # Bounds: at most 20% under three, as in the JPEG test, and well under a copy of
    # every frame to every child twice over.
    assert 3 * 0.8 <= systems["streamnest"]["source_egress_streams"] <= 3 * 2.5
    assert not [pid for pid in report["pids"] if alive(pid)], "a benchmark process outlived the run"


def test_the_h264_workload_decodes_across_its_loop(tmp_path: Path) -> None:
    frames = encode_frames(tmp_path / "frames.bin", "h264")
    assert len(frames) >= FRAME_COUNT
    assert len(frames) % gop_frames() == 0
    assert frames[0].keyframe, "the unit after the last one is a keyframe"
    decoder = H264Decoder()
    looped = frames + frames + frames[:2]  # as a viewer of the looping source sees them
    pictures = [decoder.decode(frame.data) for frame in looped]
    assert all(picture is not None for picture in pictures), "every unit decodes, wrap included"
