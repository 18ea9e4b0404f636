"""The latency a viewer reports is honest: close to the true capture-to-arrival time."""

from __future__ import annotations

import statistics

import attrs
import trio

import protocol as p
from peer.node import Peer, PeerHooks
from tests.peer.conftest import PeerStarter
from tests.polling import eventually

SOURCE_FPS = 30
HOPS = 4
SAMPLE_FRAMES = 60  # two seconds of frames at the end of the chain
DEADLINE_TARGETS = 5
# The target: the estimate within 2 ms and 20% of the truth.
ERROR_MS = 2.0
ERROR_SHARE = 0.2
# What a busy machine adds. Each hop's estimate is half a ping's round trip, and a pong
# goes through two more scheduling points of its parent than a frame does (its reader
# and writer tasks; frames are written straight from the reader). So each hop may be
# off by about one scheduling delay of this process's event loop, measured below as
# how late a short sleep wakes up; allowed twice per hop.
SCHEDULING_DELAYS_PER_HOP = 2
LAG_PROBE_S = 0.01


@attrs.define
class LatencySamples:
    """(estimate, truth) in ms for each frame arriving at a viewer, both for that frame."""

    viewer: Peer | None = None
    pairs: list[tuple[float, float]] = attrs.Factory(list)

    def note(self, header: p.FrameHeader, arrival_ns: int) -> None:
        """A frame arrived (the viewer's counters already hold its numbers)."""
        if self.viewer is not None and self.viewer.counters.depth == HOPS:
            self.pairs.append(
                (self.viewer.counters.latency.latency_ms, self.viewer.true_latency_ms)
            )


@attrs.define
class LoopLag:
    """How late this process's event loop wakes a sleeping task: the machine's business."""

    lags_ms: list[float] = attrs.Factory(list)

    async def measure(self) -> None:
        """Sleep LAG_PROBE_S again and again and note each overshoot (until cancelled)."""
        while True:
            asked = trio.current_time()
            await trio.sleep(LAG_PROBE_S)  # a probe of the loop, not a wait for anything
            self.lags_ms.append((trio.current_time() - asked - LAG_PROBE_S) * 1000)


async def test_the_estimate_tracks_the_true_latency_down_a_chain(
    start_peer: PeerStarter, nursery: trio.Nursery
) -> None:
    await start_peer("source", "cam", source=f"testsrc:640x360@{SOURCE_FPS}", max_children=1)
    samples = LatencySamples()
    chain: list[Peer] = []
    for i in range(HOPS):
        hooks = PeerHooks(on_frame_received=samples.note) if i == HOPS - 1 else None
        chain.append(await start_peer("viewer", f"hop{i}", hooks, max_children=1, decode=False))
    last = chain[-1]
    await eventually(
        lambda: last.counters.depth == HOPS and last.counters.latency.rtt_samples >= 3,
        within_s=15,
        what="the end of the chain receiving with RTT samples",
    )
    lag = LoopLag()
    nursery.start_soon(lag.measure)
    samples.viewer = last
    await eventually(
        lambda: len(samples.pairs) >= SAMPLE_FRAMES,
        within_s=DEADLINE_TARGETS * SAMPLE_FRAMES / SOURCE_FPS,
        what=f"{SAMPLE_FRAMES} frames at the end of the chain",
    )
    estimate = statistics.median(e for e, _ in samples.pairs)
    truth = statistics.median(t for _, t in samples.pairs)
    loop_lag_ms = statistics.mean(lag.lags_ms)
    busy_ms = HOPS * SCHEDULING_DELAYS_PER_HOP * loop_lag_ms
    print(
        f"\nlatency at depth {HOPS}: estimate {estimate:.2f} ms, true {truth:.2f} ms; "
        f"event loop {loop_lag_ms:.2f} ms late on average"
    )
    assert abs(estimate - truth) <= ERROR_MS + ERROR_SHARE * truth + busy_ms
