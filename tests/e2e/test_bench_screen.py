"""scripts/bench: the screen judged from canned benchmark results, and one tiny real run.

The canned results have the shape each benchmark's --json writes (only the keys the
screen reads), so every verdict is checked exactly without running anything. Two tests
run processes: a fake benchmark that never ends (its time limit, 5 s, and its child), and
`--only relay --quick`, about half a minute, which asserts the screen's shape and that
the exit status follows the verdicts, not any timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402
import bench_screen  # noqa: E402
import bench_tracker  # noqa: E402

from peer.simulation.report import DISTRIBUTION_KEYS, REPORT_SCHEMA  # noqa: E402
from tests.processes import alive  # noqa: E402

SCREEN_MAX_LINES = 40
QUICK_RUN_TIMEOUT_S = 240
HEADER = bench_screen.Header(
    commit="abc1234",
    uncommitted=True,
    cores=2,
    load_average=(1.5, 1.25, 1.0),
    date="2030-01-02 03:04 UTC",
    quick=False,
)


def simulation(continuity_p5: float = 0.995, latency_p99_ms: float = 21.0) -> dict[str, Any]:
    def spread(p5: float, p50: float, p95: float, p99: float) -> dict[str, float]:
        return {"p5": p5, "p50": p50, "p95": p95, "p99": p99, "min": p5, "max": p99, "count": 9}

    return {
        "continuity": spread(continuity_p5, 1.0, 1.0, 1.0),
        "true_latency_ms": spread(2.0, 6.0, 15.0, latency_p99_ms),
        "join_ms": spread(90.0, 150.0, 420.0, 600.0),
        "recovery_ms": spread(300.0, 800.0, 1500.0, 1800.0),
        "loss_pct": spread(0.0, 0.0, 0.5, 1.2),
        "tree": {"max_depth": 5, "attached": 200, "viewers_at_end": 200},
        "workers": [{"pid": 1, "cpu_pct": 61.0}, {"pid": 2, "cpu_pct": 73.4}],
    }


def system(delivered: float, p99_ms: float, cpu_pct: float) -> dict[str, Any]:
    return {
        "delivered_ratio": delivered,
        "latency_p99_ms": p99_ms,
        "total_cpu_pct": cpu_pct,
        "cpu_ms_per_delivered_frame": cpu_pct * 10 / 3000,
    }


def both_systems(streamnest: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return {
        "streamnest": streamnest or system(1.0, 9.5, 150.0),
        "imagezmq": system(1.0, 30.1, 160.0),
    }


def comparison(systems: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"runs": [{"viewers": 100, "systems": systems}], "targets": []}


def relay(p50_ms: float = 0.08, p99_ms: float = 1.2) -> dict[str, Any]:
    cost = {"jpeg_kib": 90.0, "sign_us": 60.0, "verify_us": 100.0, "core_pct_at_fps": 0.48}
    return {
        "signatures": {"pattern": cost, "noisy": {**cost, "core_pct_at_fps": 2.4}},
        "chain": {"per_hop_ms_p50": p50_ms, "per_hop_ms_p99": p99_ms, "frames_lost": 0},
        "egress": [{"viewers": 10, "egress_ratio": 3.0}, {"viewers": 100, "egress_ratio": 2.98}],
    }


def tracker(cpu_pct: float = 12.9, ack_p99_ms: float | None = 6.4) -> dict[str, Any]:
    return {"tracker_cpu_pct": cpu_pct, "ack_p99_ms": ack_p99_ms, "peers_lost": 0,
            "other_cpu_pct": 40.0, "cost_vs_floor": cpu_pct / 11.0}  # fmt: skip


def codec(h264_kbps: float = 1860.0, h264_hop_ms: float = 0.47) -> dict[str, Any]:
    jpeg_hop_ms = 0.52
    return {
        "clips": {"bbb": {"encodings": {"h264": {"kbps": h264_kbps, "ssim_mean": 0.9794}}}},
        "chain": {
            "jpeg": {"per_hop_ms_p50": jpeg_hop_ms},
            "h264": {"per_hop_ms_p50": h264_hop_ms},
            "h264_per_hop_ms_p50_max": jpeg_hop_ms * 1.10 + 0.05,
        },
    }


def outcome(name: str, data: dict[str, Any] | None, **changes: Any) -> bench_screen.Outcome:
    done = bench_screen.Outcome(name=name, argv=("--x", "1"), seconds=12.0, returncode=0, data=data)
    return attrs.evolve(done, **changes)


def all_passing() -> dict[str, bench_screen.Outcome]:
    return {
        "simulate": outcome("simulate", simulation()),
        "compare": outcome("compare", comparison(both_systems())),
        "relay": outcome("relay", relay(), load_at_start=3.5),
        "tracker": outcome("tracker", tracker()),
    }


def screen_of(outcomes: dict[str, bench_screen.Outcome]) -> tuple[bench_screen.Screen, str]:
    screen = bench_screen.build_screen(HEADER, bench_screen.BENCHMARKS, outcomes)
    return screen, bench_screen.render(screen)


def row(screen: bench_screen.Screen, group: str, label: str) -> bench_screen.Row:
    [found] = [r for g in screen.groups if g.name == group for r in g.rows if r.label == label]
    return found


def cells(found: bench_screen.Row) -> tuple[str, str, str]:
    return found.value, found.target, found.verdict


def test_every_target_met_prints_one_screen_with_the_commit_and_a_pass_summary() -> None:
    screen, text = screen_of(all_passing())
    lines = text.splitlines()
    assert len(lines) <= SCREEN_MAX_LINES
    assert lines[0] == "StreamNest standing benchmarks on abc1234 + uncommitted changes"
    assert "2 cores, load average 1.50 1.25 1.00 at start" in lines[1]
    assert "2030-01-02 03:04 UTC" in lines[1]
    assert [g.name for g in screen.groups] == ["simulate", "compare", "relay", "tracker"]
    assert (
        "-- relay: 10 relay processes at 720p30 for 8 s; source egress at 10 and 100 "
        "viewers (12 s, load 3.5)" in lines
    )
    assert (
        "-- tracker: 2,000 fake peers heartbeating every second, 15 s, and a bare server (12 s)"
        in lines
    )
    assert screen.failed == 0 and screen.skipped == 0
    assert screen.passed == 11
    assert lines[-1].startswith("PASS: all 11 targets met")
    assert cells(row(screen, "simulate", "continuity p5")) == ("0.9950", ">= 0.99", "PASS")
    busiest = row(screen, "simulate", "worker CPU %, busiest worker")
    assert cells(busiest) == ("73", "-", "-")
    p99 = row(screen, "compare", "StreamNest e2e latency p99 ms")
    assert cells(p99) == ("9.50", "<= imagezmq 30.10", "PASS")
    assert row(screen, "compare", "imagezmq CPU ms/delivered frame").value == "0.533"
    assert row(screen, "relay", "source upload in streams, most viewers").value == "2.98"


def test_h264_is_judged_by_its_rate_its_ssim_and_a_hop_beside_jpegs_on_the_same_screen() -> None:
    outcomes = {**all_passing(), "codec": outcome("codec", codec())}
    screen, text = screen_of(outcomes)
    assert len(text.splitlines()) <= SCREEN_MAX_LINES, "every benchmark still fits one screen"
    assert screen.failed == 0 and screen.passed == 14
    assert cells(row(screen, "codec", "H.264 kb/s, Big Buck Bunny 720p25")) == (
        "1860", "<= 2500", "PASS",
    )  # fmt: skip
    ssim = row(screen, "codec", "H.264 mean SSIM (luma), same clip")
    assert cells(ssim) == ("0.9794", ">= 0.97", "PASS")
    hop = row(screen, "codec", "H.264 added per hop p50 ms")
    assert cells(hop) == ("0.470", "<= jpeg+tol 0.622", "PASS")
    assert row(screen, "codec", "JPEG q80 added per hop p50 ms").value == "0.520"
    slower = {**outcomes, "codec": outcome("codec", codec(h264_kbps=2600.0, h264_hop_ms=0.63))}
    screen, _ = screen_of(slower)
    assert screen.failures == (
        "codec: H.264 kb/s, Big Buck Bunny 720p25",
        "codec: H.264 added per hop p50 ms",
    )


def test_a_missed_target_fails_names_the_figure_and_shows_both_numbers() -> None:
    outcomes = all_passing()
    outcomes["simulate"] = outcome("simulate", simulation(continuity_p5=0.97))
    outcomes["relay"] = outcome("relay", relay(p50_ms=0.31))
    screen, text = screen_of(outcomes)
    assert screen.failed == 2
    assert screen.failures == ("simulate: continuity p5", "relay: added per hop p50 ms")
    assert cells(row(screen, "relay", "added per hop p50 ms")) == ("0.310", "<= 0.3", "FAIL")
    assert "FAIL: 2 of 11 targets missed" in text
    assert "simulate: continuity p5; relay: added per hop p50 ms" in text


def test_delivered_frames_are_judged_as_printed_to_four_places() -> None:
    def delivered_row(ratio: float) -> bench_screen.Row:
        outcomes = all_passing()
        outcomes["compare"] = outcome(
            "compare", comparison(both_systems(system(ratio, 9.5, 150.0)))
        )
        return row(screen_of(outcomes)[0], "compare", "StreamNest delivered frames")

    assert delivered_row(0.99996).value == "1.0000"
    assert delivered_row(0.99996).verdict == "PASS"
    assert (delivered_row(0.9999).value, delivered_row(0.9999).verdict) == ("0.9999", "FAIL")
    assert delivered_row(1.0).target == ">= 1.0000"


def test_streamnest_using_more_cpu_than_imagezmq_fails() -> None:
    outcomes = all_passing()
    outcomes["compare"] = outcome("compare", comparison(both_systems(system(1.0, 9.5, 170.0))))
    screen, _ = screen_of(outcomes)
    cpu = row(screen, "compare", "StreamNest total CPU %")
    assert cells(cpu) == ("170", "<= imagezmq 160", "FAIL")


def test_without_imagezmq_its_figures_say_skip_and_why_but_streamnest_is_still_judged() -> None:
    outcomes = all_passing()
    outcomes["compare"] = outcome(
        "compare",
        comparison({"streamnest": system(1.0, 9.5, 150.0)}),
        missing=frozenset({"imagezmq"}),
    )
    screen, text = screen_of(outcomes)
    assert screen.failed == 0
    assert screen.skipped == 3
    for label in ("StreamNest e2e latency p99 ms", "StreamNest total CPU %",
                  "imagezmq CPU ms/delivered frame"):  # fmt: skip
        skipped = row(screen, "compare", label)
        assert skipped.verdict == "SKIP"
        assert skipped.note == "imagezmq is not installed (the bench extra)"
    assert row(screen, "compare", "StreamNest delivered frames").verdict == "PASS"
    assert text.splitlines()[-1].startswith("PASS: all 9 targets met, 3 skipped")


def test_without_imagezmq_bench_compare_runs_streamnest_alone() -> None:
    [compare] = [b for b in bench_screen.BENCHMARKS if b.name == "compare"]
    with_it = bench.command_line(compare, quick=False, installed=lambda module: True)
    without = bench.command_line(compare, quick=False, installed=lambda module: False)
    assert with_it[with_it.index("--systems") + 1] == "streamnest,imagezmq"
    assert without[without.index("--systems") + 1] == "streamnest"
    assert with_it[with_it.index("--viewers") + 1] == "100"


def test_a_benchmark_whose_script_does_not_exist_prints_nothing(tmp_path: Path) -> None:
    codec = bench_screen.Benchmark(
        name="codec",
        script="scripts/bench_codec.py",
        title="H.264 encode and decode",
        argv=("--seconds", "5"),
        quick={"--seconds": "1"},
        figures=(
            bench_screen.Figure(
                "encode ms/frame", "encode_ms", ".1f", bench_screen.Target("<=", 20.0)
            ),
        ),
        timeout_s=60,
    )
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "bench_relay.py").write_text("")
    [relay_benchmark] = [b for b in bench_screen.BENCHMARKS if b.name == "relay"]
    assert bench.runnable([relay_benchmark, codec], tmp_path) == [relay_benchmark]
    screen = bench_screen.build_screen(
        HEADER, [relay_benchmark, codec], {"relay": outcome("relay", relay())}
    )
    text = bench_screen.render(screen)
    assert [g.name for g in screen.groups] == ["relay"]
    assert "codec" not in text and "encode" not in text


def test_a_benchmark_that_broke_fails_with_the_end_of_its_stderr() -> None:
    outcomes = all_passing()
    said = (
        "Traceback (most recent call last):",
        "    | RuntimeError: " + "x" * 200 + " exited (1)",
        "    +------------------------------------",
    )
    outcomes["tracker"] = outcome(
        "tracker", None, returncode=1, log=("bench_tracker: the tracker exited before listening",)
    )
    outcomes["compare"] = outcome("compare", None, returncode=1, log=said)
    outcomes["relay"] = outcome("relay", None, returncode=None)
    screen, text = screen_of(outcomes)
    broke = row(screen, "tracker", "exit status 1")
    assert broke.verdict == "FAIL"
    assert broke.note == "bench_tracker: the tracker exited before listening"
    assert [r.label for g in screen.groups if g.name == "tracker" for r in g.rows] == [
        "exit status 1"
    ]
    shortened = row(screen, "compare", "exit status 1").note
    assert len(shortened) == 80
    assert shortened.startswith("RuntimeError: xxx") and shortened.endswith("xxx exited (1)")
    assert " ... " in shortened
    [compare_group] = [g for g in screen.groups if g.name == "compare"]
    assert compare_group.log == said, "--json keeps the end of its stderr"
    assert row(screen, "relay", "did not finish").note == "stopped at its 300 s limit"
    assert screen.failures == (
        "compare: exit status 1",
        "relay: did not finish",
        "tracker: exit status 1",
    )
    assert "FAIL: 3 of 5 targets missed" in text


def test_a_figure_missing_from_the_json_or_null_fails_and_says_so() -> None:
    outcomes = all_passing()
    outcomes["tracker"] = outcome("tracker", tracker(ack_p99_ms=None))
    data = simulation()
    del data["true_latency_ms"]
    del data["tree"]
    data["workers"] = []
    outcomes["simulate"] = outcome("simulate", data)
    screen, _ = screen_of(outcomes)
    unacked = row(screen, "tracker", "heartbeat ack p99 ms")
    assert (unacked.value, unacked.verdict, unacked.note) == ("null", "FAIL", "null in its JSON")
    latency = row(screen, "simulate", "true e2e latency p99 ms")
    assert (latency.verdict, latency.note) == ("FAIL", "no true_latency_ms.p99 in its JSON")
    depth = row(screen, "simulate", "max depth")
    assert (depth.value, depth.verdict) == ("-", "-"), "a figure without a target only shows"
    busiest = row(screen, "simulate", "worker CPU %, busiest worker")
    assert (busiest.value, busiest.note) == ("-", "workers.*.cpu_pct is a list of 0, not a number")


def test_processes_a_benchmark_left_behind_fail_it() -> None:
    outcomes = all_passing()
    outcomes["relay"] = outcome("relay", relay(), leftover_processes=3)
    screen, _ = screen_of(outcomes)
    left = row(screen, "relay", "processes left behind")
    assert (left.value, left.verdict) == ("3", "FAIL")


def test_quick_runs_shrink_options_the_full_runs_pass() -> None:
    for benchmark in bench_screen.BENCHMARKS:
        full = bench.command_line(benchmark, quick=False, installed=lambda module: True)
        quick = bench.command_line(benchmark, quick=True, installed=lambda module: True)
        assert len(full) == len(quick), benchmark.name
        for option, value in benchmark.quick.items():
            assert quick[quick.index(option) + 1] == value, benchmark.name
        assert "--json" not in full, "bench.py adds --json itself"


def test_the_figures_name_keys_the_simulation_and_tracker_reports_have() -> None:
    [simulate] = [b for b in bench_screen.BENCHMARKS if b.name == "simulate"]
    for figure in simulate.figures:
        first, second = figure.path.split(".", 1)
        assert first in REPORT_SCHEMA, figure.path
        if REPORT_SCHEMA[first] is dict and first != "tree":
            assert second in DISTRIBUTION_KEYS, figure.path
    [tracker_benchmark] = [b for b in bench_screen.BENCHMARKS if b.name == "tracker"]
    report_fields = {field.name for field in attrs.fields(bench_tracker.Report)}
    assert {figure.path for figure in tracker_benchmark.figures} <= report_fields


def test_only_refuses_a_name_it_does_not_know() -> None:
    with pytest.raises(SystemExit, match="no benchmark named nonsense"):
        bench.chosen("relay,nonsense")
    assert [b.name for b in bench.chosen("tracker,relay")] == ["relay", "tracker"]


# A benchmark that never ends, with a child of its own: both wait for a signal.
HANGING_BENCHMARK = """
import signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
with open(sys.argv[1], "w") as pid_file:
    pid_file.write(str(child.pid))
signal.pause()
"""


def test_a_benchmark_past_its_time_limit_is_stopped_with_everything_it_started(
    tmp_path: Path,
) -> None:
    script = tmp_path / "bench_hangs.py"
    script.write_text(HANGING_BENCHMARK)
    pid_path = tmp_path / "child.pid"
    hangs = bench_screen.Benchmark(
        name="hangs", script=str(script), title="never ends", argv=(str(pid_path),), quick={},
        figures=(bench_screen.Figure("answer", "answer", "d", bench_screen.Target(">=", 42)),),
        timeout_s=5,
    )  # fmt: skip
    done = bench.run_benchmark(hangs, quick=False, tmp=tmp_path)
    child = int(pid_path.read_text())
    try:
        assert done.returncode is None
        assert done.data is None
        assert done.leftover_processes == 1, "its child outlived it and was killed"
        assert not alive(child)
        group = bench_screen.judge_outcome(hangs, done)
        assert [(r.label, r.verdict) for r in group.rows] == [
            ("did not finish", "FAIL"),
            ("processes left behind", "FAIL"),
        ]
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_quick_relay_run_prints_one_screen_and_its_exit_status_follows_the_verdicts(
    tmp_path: Path,
) -> None:
    report = tmp_path / "screen.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--only", "relay", "--quick", "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT_S,
    )
    lines = result.stdout.splitlines()
    assert 0 < len(lines) <= SCREEN_MAX_LINES, result.stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert lines[0].startswith(f"StreamNest standing benchmarks on {commit}")
    assert "quick run" in lines[1]
    screen = json.loads(report.read_text())
    [group] = screen["groups"]
    assert group["name"] == "relay"
    assert group["argv"] == ["--hops", "3", "--seconds", "2", "--audiences", "10"]
    [relay_benchmark] = [b for b in bench_screen.BENCHMARKS if b.name == "relay"]
    assert [r["label"] for r in group["rows"]] == [f.label for f in relay_benchmark.figures], (
        "the relay ran and wrote every figure: " + result.stderr[-2000:]
    )
    for figure_row in group["rows"]:
        assert figure_row["value"] != "-", figure_row
        assert figure_row["verdict"] in ("PASS", "FAIL", "-"), figure_row
        assert f"{figure_row['label']:<40}" in result.stdout
    failed = [r for r in group["rows"] if r["verdict"] == "FAIL"]
    assert screen["failed"] == len(failed)
    assert result.returncode == (1 if failed else 0), result.stderr[-2000:]
    assert lines[-1].startswith("  relay: " if failed else "PASS: all 4 targets met")
