"""scripts/bench_repair.py with one trial per fault: the tree, the faults, the report.

Correctness only: one frozen and one killed relay on whatever machine runs the suite, so
no target is asserted, only that both children of the relay were measured without a
backup, that every figure is there and sane, that the standing screen finds each one it
reads, and that no process the benchmark started outlives it. Also the MJPEG part
counter it reads the children's taps with, fed a byte at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.screen import assert_screen_reads_every_figure, run_for_report
from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_screen  # noqa: E402
import mjpeg_parts  # noqa: E402

RUN_TIMEOUT_S = 120  # about 15 s on an idle 2-core machine
pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 60)
FAULTS = ("frozen", "killed")
ORPHANS = {"leaf2", "spare"}
SPREAD_KEYS = {"p50", "p95", "max", "min", "count", "unrepaired"}
PROCESSES_PER_TRIAL = 6  # a tracker, the source and four viewers


@pytest.fixture(scope="module")
def one_trial_each(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """Run the benchmark once for this module: its stdout and its JSON report."""
    report = tmp_path_factory.mktemp("bench_repair") / "out.json"
    return run_for_report("scripts/bench_repair.py", ["--trials", "1"], report, RUN_TIMEOUT_S)


def test_each_fault_ran_once_on_the_planned_tree_with_no_backup_anywhere(
    one_trial_each: tuple[str, dict[str, Any]],
) -> None:
    _, report = one_trial_each
    assert report["config"]["trials"] == 1
    assert report["config"]["parents"] == {
        "relay": "source", "leaf1": "source", "leaf2": "relay", "spare": "relay",
    }  # fmt: skip
    assert [trial["fault"] for trial in report["trials"]] == list(FAULTS)
    for trial in report["trials"]:
        assert trial["signal"] == {"frozen": "SIGSTOP", "killed": "SIGKILL"}[trial["fault"]]
        assert trial["free_slots_outside_relay"] == [], "the only free slots are the spare's"
        assert trial["backup"] is False
        assert set(trial["children"]) == ORPHANS
        for name, child in trial["children"].items():
            assert child["backup"] is None, f"{name} held a backup"
            assert child["new_parent"] in ("source", "spare", "leaf1"), name
            assert 0 < child["new_parent_s"] <= child["first_frame_s"] + 0.01, name
        assert trial["notices"], "the peers' notices after the fault are kept"
    for fault, trial in zip(FAULTS, report["trials"], strict=True):
        # A frozen relay goes silent; a killed one's links close or reset at once. (A
        # child the tracker moved before it noticed says nothing.)
        said = [child["why"] for child in trial["children"].values() if child["why"] is not None]
        assert all(why.startswith("silent") == (fault == "frozen") for why in said), said


def test_every_fault_has_its_spread_and_a_verdict_on_its_target(
    one_trial_each: tuple[str, dict[str, Any]],
) -> None:
    _, report = one_trial_each
    assert set(report["faults"]) == set(FAULTS)
    for fault, figures in report["faults"].items():
        repair = figures["repair_s"]
        assert set(repair) == SPREAD_KEYS, fault
        assert (repair["count"], repair["unrepaired"]) == (2, 0), fault
        assert 0 < repair["min"] <= repair["p50"] <= repair["p95"] <= repair["max"], fault
        assert (figures["trials"], figures["trials_with_backup"]) == (1, 0), fault
        assert figures["with_backup_repair_s"] is None, fault
        assert set(figures["by_child"]) == set(figures["phases_p50_s"]) == ORPHANS, fault
        assert set(figures["noticed_loss"]) == ORPHANS, fault
        assert figures["met"] == (repair["p95"] <= figures["target_p95_s"]), fault
    assert report["faults"]["frozen"]["target_p95_s"] == bench_screen.FROZEN_REPAIR_P95_MAX_S
    assert report["faults"]["killed"]["target_p95_s"] == bench_screen.KILLED_REPAIR_P95_MAX_S


def test_the_standing_screen_finds_every_figure_it_reads(
    one_trial_each: tuple[str, dict[str, Any]],
) -> None:
    assert_screen_reads_every_figure("scripts/bench_repair.py", one_trial_each[1])


def test_the_table_names_each_fault_beside_its_target(
    one_trial_each: tuple[str, dict[str, Any]],
) -> None:
    stdout, _ = one_trial_each
    assert "== repair with no backup: 1 trial per fault" in stdout
    assert "p95 <= 2 " in stdout and "p95 <= 0.5 " in stdout
    for fault, signal in (("frozen", "SIGSTOP"), ("killed", "SIGKILL")):
        assert any(line.startswith(f"{fault:<8}{signal}") for line in stdout.splitlines())


def test_no_process_the_benchmark_started_is_left_behind(
    one_trial_each: tuple[str, dict[str, Any]],
) -> None:
    _, report = one_trial_each
    assert len(report["pids"]) == PROCESSES_PER_TRIAL * len(FAULTS)
    assert not [pid for pid in report["pids"] if alive(pid)], "a benchmark process outlived it"


def test_the_part_counter_finds_each_jpeg_however_the_bytes_are_cut() -> None:
    jpegs = [b"\xff\xd8" + bytes([n]) * n * 100 + b"\xff\xd9" for n in (1, 7, 3)]
    response = b"HTTP/1.1 200 \r\ncontent-type: multipart/x-mixed-replace\r\n\r\n" + b"".join(
        b"--streamnestframe\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%b\r\n"
        % (len(jpeg), jpeg)
        for jpeg in jpegs
    )
    whole = mjpeg_parts.MjpegParts()
    assert whole.feed(response) == len(jpegs)
    byte_by_byte = mjpeg_parts.MjpegParts()
    counts = [byte_by_byte.feed(response[i : i + 1]) for i in range(len(response))]
    assert sum(counts) == len(jpegs)
    ends = [i for i, count in enumerate(counts) if count]
    assert [response[end - 1 : end + 1] for end in ends] == [b"\xff\xd9"] * len(jpegs)
    with pytest.raises(ValueError):
        mjpeg_parts.MjpegParts().feed(b"x" * (mjpeg_parts.MAX_PART_HEAD_BYTES + 10))
