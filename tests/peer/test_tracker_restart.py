"""The tracker crashes and comes back: the video never stops, and the tree is kept."""

from __future__ import annotations

import trio

from peer.config import PeerConfig
from peer.node import Peer
from tests.polling import eventually
from tracker.service import Tracker, TrackerConfig

SOURCE_FPS = 30
OUTAGE_FRAMES = SOURCE_FPS  # a second of video with no tracker
DEADLINE_TARGETS = 5


async def test_video_flows_while_the_tracker_is_down_and_peers_re_register(
    nursery: trio.Nursery,
) -> None:
    config = TrackerConfig(port=0, recovery_window_s=5.0)
    first = Tracker(config)
    tracker_scope = trio.CancelScope()

    async def run_tracker(tracker: Tracker, scope: trio.CancelScope) -> None:
        with scope:
            await tracker.serve()

    nursery.start_soon(run_tracker, first, tracker_scope)
    await eventually(lambda: first.address is not None, within_s=5, what="the tracker listening")
    assert first.address is not None
    address = first.address

    async def start(role: str, name: str, **kw: object) -> Peer:
        peer = Peer(PeerConfig(role=role, name=name, tracker=address, **kw))  # type: ignore[arg-type]
        started: Peer = await nursery.start(peer.run)
        return started

    await start("source", "cam", source=f"testsrc:320x240@{SOURCE_FPS}", max_children=1)
    relays = [await start("viewer", f"v{i}", max_children=1, decode=False) for i in range(3)]
    await eventually(
        lambda: all(v.counters.loss.frames_received > 5 for v in relays),
        within_s=15,
        what="the chain receiving",
    )
    parents = {v.config.name: v.counters.parent for v in relays}
    assert parents == {"v0": "cam", "v1": "v0", "v2": "v1"}

    tracker_scope.cancel()  # the tracker dies; every peer loses its control connection
    await eventually(
        lambda: not any(v.tracker.connected for v in relays), within_s=5, what="peers noticing"
    )
    # A second of video with no tracker at all: every viewer gets it, and not one frame
    # is missing from it (a gap in the sequence numbers would count as lost).
    received = [v.counters.loss.frames_received for v in relays]
    lost = [v.counters.loss.frames_lost for v in relays]
    await eventually(
        lambda: all(v.counters.loss.frames_received >= r + OUTAGE_FRAMES
                    for v, r in zip(relays, received, strict=True)),
        within_s=DEADLINE_TARGETS * OUTAGE_FRAMES / SOURCE_FPS,
        what=f"{OUTAGE_FRAMES} more frames at every viewer with the tracker down",
    )  # fmt: skip
    assert [v.counters.loss.frames_lost for v in relays] == lost, "frames lost while it was down"

    second = Tracker(TrackerConfig(port=address[1], recovery_window_s=5.0))
    nursery.start_soon(run_tracker, second, trio.CancelScope())
    await eventually(
        lambda: len(second.room.members) == 4 and all(v.tracker.connected for v in relays),
        within_s=10,
        what="every peer re-registered",
    )
    await eventually(
        lambda: all(
            second.room.tree[v.config.name].parent == parents[v.config.name] for v in relays
        ),
        within_s=10,
        what="the tracker rebuilding the same tree",
    )
    assert {v.config.name: v.counters.parent for v in relays} == parents
    assert all(v.follower.switches == 0 for v in relays)
