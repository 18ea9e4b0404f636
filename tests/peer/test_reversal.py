"""Connection reversal over real sockets: a viewer the tracker cannot dial still feeds
viewers it can, by connecting to them, and nobody else can open such a link."""

from __future__ import annotations

import trio

import protocol as p
from peer.node import Peer
from peer.wire import receive_message
from tests.peer.conftest import PeerStarter, VideoMaker
from tests.polling import eventually
from tracker.service import Tracker

RECEIVING_WITHIN_S = 15.0  # placement, probes and joins take about a second when quiet
# Nothing listens on port 1: a peer advertising it fails the tracker's probe, as one
# behind a home router does, and no child could dial it there.
CLOSED_PORT = 1


async def test_a_viewer_nobody_can_dial_feeds_dialable_viewers_by_connecting_to_them(
    make_video: VideoMaker, start_peer: PeerStarter, tracker: Tracker
) -> None:
    video = make_video("avi", width=320, height=240, fps=30, frames=60)
    await start_peer("source", "cam", source=str(video), loop=True, max_children=1)
    nat = await start_peer(
        "viewer", "nat", max_children=2, decode=False, advertise=("127.0.0.1", CLOSED_PORT)
    )
    await eventually(lambda: nat.receiving.is_set(), within_s=RECEIVING_WITHIN_S, what="nat")
    await eventually(
        lambda: nat.counters.reachable is False, within_s=RECEIVING_WITHIN_S, what="nat probed"
    )
    leaves = [await start_peer("viewer", f"pub{i}", max_children=0, decode=False) for i in (1, 2)]

    def fed_by_nat() -> bool:
        return all(leaf.receiving.is_set() and leaf.stats()["parent"] == "nat" for leaf in leaves)

    await eventually(fed_by_nat, within_s=RECEIVING_WITHIN_S, what="both leaves fed by nat")
    assert [leaf.stats()["parent_link"] for leaf in leaves] == ["reversed", "reversed"]
    assert nat.stats()["parent_link"] == "direct"
    assert nat.stats()["children"] == 2
    assert not tracker.room.tree["nat"].dialable
    before = [leaf.counters.loss.frames_received for leaf in leaves]
    await eventually(
        lambda: all(
            leaf.counters.loss.frames_received > count + 15
            for leaf, count in zip(leaves, before, strict=True)
        ),
        within_s=RECEIVING_WITHIN_S,
        what="frames still arriving over the reversed links",
    )


async def _reverse(peer: Peer, reverse: p.Reverse) -> p.Message | None:
    """Open a connection to `peer`'s port as a parent would, and read its answer."""
    assert peer.hub.address is not None
    stream = await trio.open_tcp_stream("127.0.0.1", peer.hub.address[1])
    async with stream:
        await stream.send_all(p.encode(reverse))
        with trio.fail_after(10):
            return await receive_message(stream, p.MessageDecoder(max_frame_payload_bytes=0))


async def test_a_parent_link_opened_without_the_trackers_token_is_refused(
    make_video: VideoMaker, start_peer: PeerStarter
) -> None:
    video = make_video("avi", width=320, height=240, fps=30, frames=60)
    await start_peer("source", "cam", source=str(video), loop=True, max_children=1)
    viewer = await start_peer("viewer", "v", max_children=0, decode=False)
    await eventually(lambda: viewer.receiving.is_set(), within_s=RECEIVING_WITHIN_S, what="v")

    forged = await _reverse(viewer, p.Reverse(parent="mallory", token="1.2.3"))
    assert isinstance(forged, p.Reject) and forged.code is p.RejectCode.BAD_TOKEN
    itself = await _reverse(viewer, p.Reverse(parent="V", token="1.2.3"))
    assert isinstance(itself, p.Reject) and itself.code is p.RejectCode.SELF
    assert viewer.stats()["parent"] == "cam"  # and it kept what it had
    received = viewer.counters.loss.frames_received
    await eventually(
        lambda: viewer.counters.loss.frames_received > received + 15,
        within_s=RECEIVING_WITHIN_S,
        what="frames still arriving",
    )
