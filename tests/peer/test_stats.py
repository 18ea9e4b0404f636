"""The numbers on a peer's stats line are honest: fps, bandwidth, loss and latency."""

from __future__ import annotations

import json
import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from peer.cli import summary
from peer.stats import NO_VIDEO_AFTER_S, LatencyEstimate, LossWindow, PeerCounters, RateWindow

DESIGN_KEYS = {
    "t",
    "name",
    "role",
    "fps",
    "recv_fps",
    "bandwidth_kbps",
    "upload_kbps",
    "latency_ms",
    "rtt_ms",
    "loss_pct",
    "frames_received",
    "frames_lost",
    "depth",
    "parent",
    "children",
    "resolution",
}


def test_a_viewer_showing_30_frames_a_second_for_two_seconds_reports_30_fps() -> None:
    viewer = PeerCounters(name="ann", role="viewer", resolution="480p")
    for i in range(60):
        viewer.on_frame_displayed(i / 30)
    # Halfway between two frames, so the 0.5 s window holds exactly 15 of them.
    now_s = 59 / 30 + 1 / 60
    assert viewer.displayed.rate(now_s) == 30.0
    assert viewer.snapshot(now_s, wall_s=1_700_000_000.0)["fps"] == 30.0


def test_fps_falls_to_zero_half_a_second_after_the_video_stops() -> None:
    window = RateWindow(0.5)
    for i in range(30):
        window.add(i / 30)
    assert window.rate(29 / 30 + 0.5) == 0.0


def test_a_million_bytes_a_second_is_8000_kbps() -> None:
    viewer = PeerCounters(name="ann", role="viewer", resolution="source")
    for i in range(30):
        viewer.on_frame_received(i / 10, epoch=1, seq=i, nbytes=100_000, path_latency_us=0)
    # The 2 s window (0.95, 2.95] holds frames 10..29: 2,000,000 bytes.
    snapshot = viewer.snapshot(2.95, wall_s=0.0)
    assert snapshot["bandwidth_kbps"] == 8000.0
    assert snapshot["recv_fps"] == 10.0
    assert snapshot["upload_kbps"] == 0.0


def test_a_relay_reports_what_it_uploads_to_its_children() -> None:
    relay = PeerCounters(name="bob", role="viewer", resolution="720p", children=2)
    for i in range(30):
        relay.on_bytes_sent(i / 10, 50_000)
        relay.on_bytes_sent(i / 10, 50_000)
    assert relay.snapshot(2.95, wall_s=0.0)["upload_kbps"] == 8000.0


def test_the_source_reports_frames_and_bits_it_sent() -> None:
    source = PeerCounters(name="cam", role="source", resolution="source")
    for i in range(60):
        source.on_frame_sent(i / 30, 10_000)
        source.on_bytes_sent(i / 30, 3 * 10_000)  # one frame to each of three children
    snapshot = source.snapshot(59 / 30 + 1 / 60, wall_s=0.0)
    assert snapshot["fps"] == 30.0
    # 60 frames in 2 s at 30,000 bytes each is 900,000 bytes/s.
    assert snapshot["bandwidth_kbps"] == snapshot["upload_kbps"] == 7200.0
    # The stream itself: each frame once, 10,000 bytes at 30 fps.
    assert snapshot["stream_kbps"] == 2400.0
    assert snapshot["recv_fps"] == 0.0
    assert snapshot["frames_received"] == 0


def test_three_missing_frames_out_of_a_hundred_is_2_91_percent_then_forgotten() -> None:
    loss = LossWindow()
    arrived = [seq for seq in range(103) if seq not in (50, 51, 52)]
    for seq in arrived:
        loss.record(seq / 30, epoch=1, seq=seq)
    last_s = 102 / 30
    assert loss.frames_received == 100
    assert loss.frames_lost == 3
    assert round(loss.loss_pct(last_s), 2) == 2.91
    # The gap was noticed when frame 53 arrived; 5 s later it has left the window.
    assert loss.loss_pct(53 / 30 + 5.0 + 0.01) == 0.0
    assert loss.loss_pct(last_s + 5.0) == 0.0
    assert (loss.frames_received, loss.frames_lost) == (100, 3)


def test_duplicate_and_old_frames_are_neither_received_twice_nor_lost() -> None:
    loss = LossWindow()
    for seq in (0, 1, 2, 2, 1, 3, 0, 4):
        loss.record(0.1, epoch=1, seq=seq)
    assert (loss.frames_received, loss.frames_lost) == (5, 0)
    assert loss.loss_pct(0.1) == 0.0


def test_a_new_stream_restarting_its_numbers_is_not_loss() -> None:
    loss = LossWindow()
    for seq in range(100, 110):
        loss.record(1.0, epoch=1, seq=seq)
    for seq in range(5):
        loss.record(2.0, epoch=2, seq=seq)
    # A straggler of the old stream after the switch is old news, not a restart.
    loss.record(2.1, epoch=1, seq=105)
    assert (loss.frames_received, loss.frames_lost) == (15, 0)
    assert loss.loss_pct(2.1) == 0.0


def test_rtt_is_smoothed_and_latency_adds_half_the_smallest_to_the_path_estimate() -> None:
    estimate = LatencyEstimate()
    estimate.observe_rtt(0.010, now_s=0.0)
    assert estimate.rtt_ms == pytest.approx(10.0)
    estimate.observe_rtt(0.020, now_s=2.0)
    assert estimate.rtt_ms == pytest.approx(12.5)  # 10 + 0.25 * (20 - 10)
    estimate.observe_frame(path_latency_us=5_000)
    assert estimate.latency_ms == pytest.approx(5.0 + 5.0)  # half the minimum, 10 ms
    # A pong echoing a time from the future (a broken or hostile parent) changes nothing.
    estimate.observe_rtt(-0.001, now_s=3.0)
    estimate.observe_rtt(math.nan, now_s=3.0)
    assert estimate.rtt_ms == pytest.approx(12.5)
    assert estimate.rtt_samples == 2


def test_the_stats_line_has_every_design_key_and_is_json() -> None:
    viewer = PeerCounters(
        name="ann", role="viewer", resolution="480p", depth=2, parent="bob", children=1
    )
    viewer.latency.observe_rtt(0.004)
    for seq in range(10):
        viewer.on_frame_received(seq / 30, epoch=3, seq=seq, nbytes=1_000, path_latency_us=1_500)
        viewer.on_frame_displayed(seq / 30)
    viewer.frames_dropped = 2

    snapshot = viewer.snapshot(10 / 30, wall_s=1_700_000_000.123456)

    extra = {
        "frames_skipped", "frames_dropped", "stream_kbps", "reachable", "parent_link",
        "mapped_port", "video",
    }  # fmt: skip
    assert set(snapshot) == DESIGN_KEYS | extra
    decoded = json.loads(json.dumps(snapshot))
    assert decoded == snapshot
    assert decoded["t"] == 1_700_000_000.123
    assert decoded["parent"] == "bob"
    assert decoded["latency_ms"] == 3.5  # 1.5 ms along the path + 4 ms / 2
    assert decoded["rtt_ms"] == 4.0
    assert decoded["frames_dropped"] == 2
    # The same numbers fit the heartbeat's PeerStats without conversion.
    fields = {field.name for field in attrs.fields(p.PeerStats)}
    # (All but slots, which the peer adds from its hub: see test_capacity.py.)
    p.PeerStats(**{name: snapshot[name] for name in fields - {"slots"}})  # type: ignore[arg-type]


def test_a_peer_running_for_an_hour_keeps_only_its_windows_in_memory() -> None:
    viewer = PeerCounters(name="ann", role="viewer", resolution="360p")
    for seq in range(30 * 3600):
        now_s = seq / 30
        viewer.on_frame_received(now_s, epoch=1, seq=seq, nbytes=10_000, path_latency_us=0)
        viewer.on_frame_displayed(now_s)
    assert len(viewer.displayed._events) <= 16
    assert len(viewer.bytes_in._events) <= 61
    assert len(viewer.loss._events) <= 151
    assert viewer.loss.frames_received == 30 * 3600


@given(
    first_seq=st.integers(0, 2**40),
    arrivals=st.lists(st.tuples(st.integers(0, 50), st.floats(0.0, 3.0)), min_size=0, max_size=200),
)
def test_every_sequence_number_is_either_received_or_lost(
    first_seq: int, arrivals: list[tuple[int, float]]
) -> None:
    loss = LossWindow()
    loss.record(0.0, epoch=7, seq=first_seq)
    seq = first_seq
    now_s = 0.0
    for step, gap_s in arrivals:
        seq += step  # a step of 0 is a duplicate
        now_s += gap_s
        loss.record(now_s, epoch=7, seq=seq)
        assert 0.0 <= loss.loss_pct(now_s) <= 100.0
    assert loss.frames_received + loss.frames_lost == seq - first_seq + 1


def test_a_viewer_without_video_says_so_rather_than_zero_loss() -> None:
    viewer = PeerCounters(name="ann", role="viewer", resolution="480p")
    assert viewer.snapshot(0.0, wall_s=0.0)["video"] == "none"
    viewer.on_frame_received(1.0, epoch=1, seq=1, nbytes=100, path_latency_us=0)
    assert viewer.snapshot(1.5, wall_s=0.0)["video"] == "receiving"
    stalled = viewer.snapshot(1.0 + NO_VIDEO_AFTER_S + 0.1, wall_s=0.0)
    assert stalled["video"] == "stalled" and stalled["loss_pct"] == 0.0  # no seqs to count
    assert summary(stalled).endswith("no video (frames stopped coming)")
    assert PeerCounters(name="cam", role="source", resolution="source").video(9.0) == "sending"
