"""scripts/bench_tracker.py, small: the tracker and the bare trio floor under one load.

Correctness only (50 fake peers for 2 s, on whatever machine runs the suite): every
heartbeat answered by both servers, the floor's figures and the ratio in the report,
and every figure the standing screen reads there. The floor's protocol is checked on
its own too: a Welcome for a Hello, an ack for each heartbeat after it, nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import protocol as p
from tests.e2e.screen import ROOT, assert_screen_reads_every_figure, run_for_report

sys.path.insert(0, str(ROOT / "scripts"))

import heartbeat_floor

pytest.importorskip("psutil", reason="the `bench` extra (psutil) is not installed")
RUN_TIMEOUT_S = 120  # about 15 s on an idle 2-core machine
pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 30)


def hello(name: str = "alice") -> p.Hello:
    return p.Hello(protocol_version=p.PROTOCOL_VERSION, name=name, role="viewer", listen_port=1)


def test_the_floor_welcomes_a_hello_and_acks_each_heartbeat_after_it() -> None:
    assert heartbeat_floor.answer(p.Heartbeat(seq=1), greeted=False) is None
    replies = [
        heartbeat_floor.answer(hello(), greeted=False),
        heartbeat_floor.answer(p.Heartbeat(seq=2), greeted=True),
    ]
    answers = p.MessageDecoder()
    answers.receive_data(b"".join(r for r in replies if r is not None))
    welcome, ack = answers.next_message(), answers.next_message()
    assert isinstance(welcome, p.Welcome) and welcome.name == "alice"
    assert isinstance(ack, p.HeartbeatAck) and ack.seq == 2, "no ack before the Hello"
    assert answers.next_message() is p.NEED_DATA


def test_the_tracker_and_the_floor_answer_the_same_load(tmp_path: Path) -> None:
    options = ["--peers", "50", "--duration", "2", "--warmup", "1"]
    stdout, report = run_for_report(
        "scripts/bench_tracker.py", options, tmp_path / "out.json", RUN_TIMEOUT_S
    )
    assert report["peers"] == 50 and report["peers_lost"] == 0, stdout
    assert report["heartbeats_acked"] == report["heartbeats_sent"] > 0, stdout
    assert report["floor_cpu_pct"] > 0 and report["floor_ack_p99_ms"] is not None, stdout
    assert report["cost_vs_floor"] == pytest.approx(
        report["tracker_cpu_pct"] / report["floor_cpu_pct"]
    )
    assert "the tracker costs" in stdout
    assert_screen_reads_every_figure("scripts/bench_tracker.py", report)
