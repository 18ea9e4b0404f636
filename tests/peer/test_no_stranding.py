"""Leaves that came first do not strand the relays that come after them (real peers)."""

from __future__ import annotations

from tests.peer.conftest import PeerStarter, VideoMaker
from tests.polling import eventually
from tracker.service import Tracker

# Placement, the swap and the joins take a few hundred ms on a quiet machine.
RECEIVING_WITHIN_S = 15.0


async def test_a_leaf_holding_the_only_slot_yields_it_and_everyone_gets_video(
    make_video: VideoMaker, start_peer: PeerStarter, tracker: Tracker
) -> None:
    video = make_video("avi", width=320, height=240, fps=30, frames=60)
    await start_peer("source", "cam", source=str(video), loop=True, max_children=1)
    leaf = await start_peer("viewer", "leaf", max_children=0, decode=False)
    await eventually(lambda: leaf.receiving.is_set(), within_s=RECEIVING_WITHIN_S, what="leaf")
    relays = [
        await start_peer("viewer", f"relay{i}", max_children=3, decode=False) for i in range(3)
    ]
    everyone = [leaf, *relays]

    def frames_flowing() -> bool:
        return all(peer.receiving.is_set() and peer.counters.parent for peer in everyone)

    await eventually(frames_flowing, within_s=RECEIVING_WITHIN_S, what="video at every viewer")
    tree = tracker.room.tree
    assert tree["leaf"].parent != "cam"  # it gave up the source's only slot
    assert tree["relay0"].parent == "cam"
    # And they keep receiving: the counts grow for each of them.
    before = [peer.counters.loss.frames_received for peer in everyone]
    await eventually(
        lambda: all(
            peer.counters.loss.frames_received > count + 15
            for peer, count in zip(everyone, before, strict=True)
        ),
        within_s=RECEIVING_WITHIN_S,
        what="frames still arriving everywhere",
    )
