"""The latency a viewer reports is honest: close to the true capture-to-arrival time."""

from __future__ import annotations

import statistics

import trio

from peer.node import Peer
from tests.peer.conftest import PeerStarter
from tests.polling import eventually


async def test_the_estimate_tracks_the_true_latency_down_a_chain(
    start_peer: PeerStarter,
) -> None:
    await start_peer("source", "cam", source="testsrc:640x360@30", max_children=1)
    chain: list[Peer] = []
    for i in range(4):
        chain.append(await start_peer("viewer", f"hop{i}", max_children=1, decode=False))
    last = chain[-1]
    await eventually(
        lambda: last.counters.depth == 4 and last.counters.latency.rtt_samples >= 3,
        within_s=15,
        what="the end of the chain receiving with RTT samples",
    )
    estimates, truths = [], []
    for _ in range(40):
        await trio.sleep(0.05)  # sample the running stream at 20 Hz
        estimates.append(last.counters.latency.latency_ms)
        truths.append(last.true_latency_ms)
    estimate = statistics.median(estimates)
    truth = statistics.median(truths)
    print(f"latency at depth 4: estimate {estimate:.2f} ms, true {truth:.2f} ms")
    assert abs(estimate - truth) <= 2.0 + 0.2 * truth
