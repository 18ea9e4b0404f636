"""The tracker crashes and comes back: the video never stops, and the tree is kept."""

from __future__ import annotations

import trio

from peer.node import Peer, PeerConfig
from tests.polling import eventually
from tracker.service import Tracker, TrackerConfig


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

    await start("source", "cam", source="testsrc:320x240@30", max_children=1)
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
    received = [v.counters.loss.frames_received for v in relays]
    await trio.sleep(1.0)  # a second without any tracker
    for viewer, before in zip(relays, received, strict=True):
        assert viewer.counters.loss.frames_received >= before + 20, "video stopped"

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
