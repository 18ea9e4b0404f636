"""The uplink probe: a viewer learns what its uplink carries before anyone depends on it."""

from __future__ import annotations

import math

import pytest

import protocol as p
from peer import events as ev
from peer.capacity import MAX_UTILISATION
from peer.config import PeerHooks
from peer.event_text import describe
from peer.uplink_probe import (
    PROBE_CHUNK_BYTES,
    PROBE_MIN_FRAMES,
    PROBE_S,
    PROBE_WARMUP_S,
    ProbeMeter,
    ProbeResult,
    StreamRate,
    probe_budget_bytes,
)
from peer.upload_limit import BURST_S
from protocol.limits import MAX_UPLINK_PROBE_BYTES
from tests.peer.conftest import PeerStarter
from tests.polling import eventually
from tracker.service import Tracker

STREAM = "testsrc:320x240@30"
RATE_SLACK = 0.2  # the probe times under a second of a shared, loaded loopback


def test_the_warm_up_is_not_timed() -> None:
    # 200 kB fill a send buffer at once, then the uplink delivers 1 MB/s.
    meter = ProbeMeter(budget_bytes=10_000_000, started_s=0.0, acked_at_start=5_000)
    now = 0.0
    while not meter.over(now):
        now += 0.05
        meter.observe(now, 5_000 + 200_000 + int(1_000_000 * now))
    result = meter.result()
    assert result is not None and not result.complete
    assert result.bytes_per_s == pytest.approx(1_000_000, rel=0.01)
    assert now == pytest.approx(PROBE_S)


def test_an_uplink_that_takes_the_whole_budget_in_time_carries_the_ceiling() -> None:
    meter = ProbeMeter(budget_bytes=1_000_000, started_s=10.0, acked_at_start=0)
    meter.observe(10.1, 600_000)
    assert not meter.over(10.1)
    meter.observe(10.2, 1_000_000)
    assert meter.over(10.2), "all of it acknowledged: done early"
    result = meter.result()
    assert result is not None and result.complete
    assert result.slots(stream_bytes_per_s=300_000, ceiling=8) == 8


def test_nothing_acknowledged_shows_nothing() -> None:
    meter = ProbeMeter(budget_bytes=1_000_000, started_s=0.0, acked_at_start=7)
    meter.observe(PROBE_WARMUP_S + 0.5, 7)
    assert meter.result() is None


def test_slots_leave_room_and_stay_within_the_ceiling() -> None:
    stream = 2_300_000 / 8  # a 640x360 JPEG stream
    five_mbps = ProbeResult(bytes_per_s=5_000_000 / 8, complete=False)
    assert five_mbps.slots(stream, ceiling=8) == 1, "two streams would be 92% of it"
    assert ProbeResult(bytes_per_s=stream, complete=False).slots(stream, 8) == 0
    assert ProbeResult(bytes_per_s=100 * stream, complete=False).slots(stream, 8) == 8


def test_the_budget_is_what_the_ceiling_needs_with_room_within_the_limit() -> None:
    stream = 300_000.0
    assert probe_budget_bytes(stream, 3) == math.ceil(3 * stream / MAX_UTILISATION * PROBE_S)
    assert probe_budget_bytes(stream, 64 * 1000) == MAX_UPLINK_PROBE_BYTES
    assert probe_budget_bytes(1.0, 1) == PROBE_CHUNK_BYTES


def test_the_event_says_what_was_measured() -> None:
    line = describe(ev.UplinkMeasured(upload_kbps=4980.0, stream_kbps=2300.0, slots=1,
                                      complete=False))  # fmt: skip
    assert line == "uplink probe: 4980 kb/s delivered, 1 child slot at 2300 kb/s each"


async def test_a_capped_viewer_offers_what_its_cap_carries_before_any_child_joins(
    start_peer: PeerStarter, tracker: Tracker
) -> None:
    await start_peer("source", "cam", source=STREAM, max_children=3)
    free_events: list[ev.PeerEvent] = []
    free = await start_peer(
        "viewer", "free", max_children=3, decode=False,
        hooks=PeerHooks(on_event=free_events.append),
    )  # fmt: skip
    await eventually(
        lambda: any(isinstance(e, ev.UplinkMeasured) for e in free_events),
        within_s=20,
        what="the uncapped viewer's probe",
    )
    measured = next(e for e in free_events if isinstance(e, ev.UplinkMeasured))
    assert measured.complete and measured.slots == 3, "loopback carries the ceiling"
    stream_kbps = measured.stream_kbps
    # Room for 2.2 streams: at 80% at most, one child.
    cap = 2.2 * stream_kbps
    events: list[ev.PeerEvent] = []
    thin = await start_peer(
        "viewer", "thin", max_children=3, decode=False, upload_limit_kbps=cap,
        hooks=PeerHooks(on_event=events.append),
    )  # fmt: skip
    await eventually(
        lambda: any(isinstance(e, ev.UplinkMeasured) for e in events),
        within_s=20,
        what="the capped viewer's probe",
    )
    probe = next(e for e in events if isinstance(e, ev.UplinkMeasured))
    assert not probe.complete
    assert cap * (1 - RATE_SLACK) <= probe.upload_kbps <= cap * (1 + RATE_SLACK), (probe, cap)
    assert probe.slots == 1
    assert thin.gate.capacity == 1
    await eventually(
        lambda: tracker.room.tree["thin"].capacity == 1,
        within_s=5,
        what="the tracker placing by the probed slots",
    )
    # The parent read the padding and kept both viewers: nobody lost the stream.
    frames = thin.counters.loss.frames_received
    await eventually(
        lambda: thin.counters.loss.frames_received > frames + 30 and bool(free.counters.parent),
        within_s=10,
        what="both viewers still watching",
    )


async def test_a_child_that_probes_past_the_limit_is_dropped_and_comes_back(
    start_peer: PeerStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(p.limits, "MAX_UPLINK_PROBE_BYTES", 2 * PROBE_CHUNK_BYTES)
    dropped: list[ev.PeerEvent] = []
    await start_peer(
        "source", "cam", source=STREAM, max_children=3,
        hooks=PeerHooks(on_event=dropped.append),
    )  # fmt: skip
    viewer = await start_peer("viewer", "v", max_children=3, decode=False)
    await eventually(
        lambda: any(isinstance(e, ev.ChildDropped) for e in dropped),
        within_s=20,
        what="the parent dropping the child that probed too much",
    )
    drop = next(e for e in dropped if isinstance(e, ev.ChildDropped))
    assert (drop.child, drop.reason, drop.detail) == (
        "v", p.DropReason.MISBEHAVED, "probed past the limit",
    )  # fmt: skip
    frames = viewer.counters.loss.frames_received
    await eventually(
        lambda: viewer.counters.loss.frames_received > frames + 30,
        within_s=20,
        what="the viewer back on the stream (it probes once only)",
    )


def header(seq: int, *, epoch: int = 1, fps: float = 30.0) -> p.FrameHeader:
    return p.FrameHeader(epoch=epoch, seq=seq, capture_ns=int(seq / fps * 1e9), width=64,
                         height=48)  # fmt: skip


def test_a_stalled_delivery_does_not_make_the_stream_look_small() -> None:
    # Twelve frames of 10 kB made at 30 fps, but delivered over 2 s (a busy parent):
    # by wall time the stream would be 60 kB/s, and a small probe would pass for a big
    # uplink. The source's clock says 300 kB/s.
    rate = StreamRate()
    for seq in range(1, 13):
        rate.add(header(seq), 10_000, arrival_s=seq * 2 / 12)
    assert rate.bytes_per_s() == pytest.approx(300_000, rel=0.01)


def test_the_stream_rate_is_unknown_until_enough_frames_and_restarts_with_the_stream() -> None:
    rate = StreamRate()
    for seq in range(1, PROBE_MIN_FRAMES):
        rate.add(header(seq), 10_000, arrival_s=seq / 30)
    assert rate.bytes_per_s() == 0.0
    rate.add(header(PROBE_MIN_FRAMES), 10_000, arrival_s=PROBE_MIN_FRAMES / 30)
    assert rate.bytes_per_s() == pytest.approx(300_000, rel=0.01)
    rate.add(header(1, epoch=2), 10_000, arrival_s=1.0)
    assert rate.frames == 1 and rate.bytes_per_s() == 0.0, "a new stream starts afresh"


def test_a_buffer_that_takes_the_first_part_at_once_is_not_a_fast_uplink() -> None:
    # A 5 Mb/s uplink whose queue took 156 kB at once: the budget for two 2.3 Mb/s
    # streams (719 kB) is through within the second, but at 625 kB/s, one stream's worth
    # of slots.
    stream = 2_300_000 / 8
    meter = ProbeMeter(budget_bytes=probe_budget_bytes(stream, 2), started_s=0.0,
                       acked_at_start=0)  # fmt: skip
    now = 0.0
    while not meter.over(now):
        now += 0.02
        meter.observe(now, min(meter.budget_bytes, int(156_000 + 625_000 * now)))
    result = meter.result()
    assert result is not None and not result.complete
    assert result.bytes_per_s == pytest.approx(625_000, rel=0.05)
    assert result.slots(stream, ceiling=2) == 1


def test_a_backlog_taken_at_once_is_not_a_fast_uplink() -> None:
    # A 20 Mb/s cap before the socket, and a far end that took little of the first part
    # (its loop busy), then the backlog at once: acknowledged, that reads past 20 Mb/s.
    stream = 2_300_000 / 8
    uplink = 20_000_000 / 8
    meter = ProbeMeter(budget_bytes=probe_budget_bytes(stream, 8), started_s=0.0,
                       acked_at_start=0, limit_bytes_per_s=uplink)  # fmt: skip
    now = 0.0
    while not meter.over(now):
        now += 0.02
        sent = min(meter.budget_bytes, int(uplink * (now + BURST_S)))
        meter.observe(now, sent if now >= 0.5 else 100_000)
    result = meter.result()
    assert result is not None and not result.complete
    assert result.bytes_per_s == pytest.approx(uplink)
    assert result.slots(stream, ceiling=8) == 6
